// tally/status.hpp — the one error type of tally.
//
// Every call that can fail returns a Status (or a Result<T>, which is a value
// or a Status). A Status is a code, which programs branch on, and a message,
// which people read: it names the problem ("key is 70000 bytes, the limit is
// 65536"), not just its kind. Statuses are cheap to copy when ok.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tally {

// Codes travel on the wire as their numeric value: append only, never renumber.
enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,   // the caller asked for something malformed or out of range
  kNotFound = 2,          // no such key (or node, or keyspace where that is not an error)
  kQuorumNotReached = 3,  // fewer than R/W replicas answered in time; message says who
  kTimeout = 4,           // the request as a whole ran out of time
  kUnavailable = 5,       // not run: no endpoint reachable, or the node would not run it (shutting down, no map yet)
  kIoError = 6,           // the disk or the network failed underneath us
  kCorruption = 7,        // stored or received bytes that do not decode
  kProtocolError = 8,     // a peer broke the wire protocol
  kTooLarge = 9,          // a key, value or frame over its configured limit
  kNotLeader = 10,        // a metadata request reached a Raft follower
  kConfigError = 11,      // a config file that does not parse or does not make sense
  kUnknownKeyspace = 12,  // the keyspace does not exist
  kInternal = 13,         // a bug: an invariant did not hold
  kAborted = 14,          // the operation was cancelled (shutdown, leadership lost)
  kStaleEpoch = 15,       // routed by an older cluster map than a ring movement's: refresh and retry
  kUnauthenticated = 16,  // the connection has not proved the cluster secret (or the password) this needs
  kContention = 17,       // a linearizable write gave up: other writers of the key kept winning (nothing was written)
  kLocked = 18,           // a lock is held by another holder, or the caller's lease on it is gone
  kFenced = 19,           // a fenced write's token is below one the key has seen for its lock (nothing written)
};

// The short stable name of a code ("quorum not reached"), for messages and logs.
std::string_view code_name(Code code);

class Status {
 public:
  Status() = default;  // ok
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status QuorumNotReached(std::string m) { return {Code::kQuorumNotReached, std::move(m)}; }
  static Status Timeout(std::string m) { return {Code::kTimeout, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status ProtocolError(std::string m) { return {Code::kProtocolError, std::move(m)}; }
  static Status TooLarge(std::string m) { return {Code::kTooLarge, std::move(m)}; }
  static Status NotLeader(std::string m) { return {Code::kNotLeader, std::move(m)}; }
  static Status ConfigError(std::string m) { return {Code::kConfigError, std::move(m)}; }
  static Status UnknownKeyspace(std::string m) { return {Code::kUnknownKeyspace, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status Aborted(std::string m) { return {Code::kAborted, std::move(m)}; }
  static Status StaleEpoch(std::string m) { return {Code::kStaleEpoch, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "quorum not reached: 1 of W=2 acked within 500 ms (n3: timeout)", or "ok".
  std::string to_string() const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that says why there is none. Never holds an ok Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}         // NOLINT: implicit by design

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The error; Status::Ok() when the result holds a value.
  Status status() const { return ok() ? Status::Ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace tally
