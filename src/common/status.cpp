#include "tally/status.hpp"

namespace tally {

std::string_view code_name(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kQuorumNotReached: return "quorum not reached";
    case Code::kTimeout: return "timeout";
    case Code::kUnavailable: return "unavailable";
    case Code::kIoError: return "io error";
    case Code::kCorruption: return "corruption";
    case Code::kProtocolError: return "protocol error";
    case Code::kTooLarge: return "too large";
    case Code::kNotLeader: return "not leader";
    case Code::kConfigError: return "config error";
    case Code::kUnknownKeyspace: return "unknown keyspace";
    case Code::kInternal: return "internal error";
    case Code::kAborted: return "aborted";
    case Code::kStaleEpoch: return "stale epoch";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kContention: return "contention";
    case Code::kLocked: return "locked";
    case Code::kFenced: return "fenced";
  }
  return "unknown error";
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  std::string out(code_name(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace tally
