// What a replica's answer to a coordinator's call means for the request's
// tally: an answer of the expected type, a failure (an ErrorReply, a lost
// connection, an unexpected reply), or silence.
#pragma once

#include <string>
#include <variant>

#include "net/messages.hpp"
#include "tally/status.hpp"

namespace tally {

struct ReplicaAnswer {
  enum Kind { kOk, kFailed, kTimeout } kind;
  std::string error;
};

template <class Expected>
ReplicaAnswer classify(const Result<wire::Message>& r) {
  if (r.ok() && std::holds_alternative<Expected>(r->body)) return {ReplicaAnswer::kOk, {}};
  if (r.ok() && std::holds_alternative<wire::ErrorReply>(r->body)) {
    return {ReplicaAnswer::kFailed, std::get<wire::ErrorReply>(r->body).message};
  }
  // Silence is left to the request's own timer, which marks it as a timeout.
  if (!r.ok() && r.status().code() == Code::kTimeout) return {ReplicaAnswer::kTimeout, {}};
  return {ReplicaAnswer::kFailed, r.ok() ? "unexpected reply" : r.status().message()};
}

}  // namespace tally
