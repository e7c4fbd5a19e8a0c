// tally/lock.hpp — locks with leases and fencing tokens, on a linearizable
// keyspace (docs/locks.md is the recipe, with what it assumes of clocks and
// what a fencing token does and does not protect).
//
//   tally::LockOptions o;                 // keyspace "locks", a 10 s lease
//   auto lock = tally::Lock::acquire(*client, "reports", o, std::chrono::seconds(30),
//                                    [](const tally::Status& why) { /* stop writing */ });
//   if (!lock.ok()) ...                   // kLocked: someone else held it for 30 s
//   tally::WriteOptions w;                // a write the next holder's token fences off
//   w.keyspace = "data"; w.fence_lock = "reports"; w.fence_token = (*lock)->token();
//   client->put("report", text, w);       // kFenced once a later holder wrote it
//   // the lease is renewed in the background until the Lock is destroyed
//
// A lock is a key of the keyspace named `name`. Acquiring writes "held by
// <holder>" over the version it read, with the lease as its time to live; the
// token is the key's new version, which no earlier acquisition of the name
// ever had (they strictly increase, across crashes and leader changes).
// Renewing rewrites it only while it still holds exactly this holding;
// releasing marks it free. A lease that runs out frees the lock by itself: a
// holder that paused past it (GC, SIGSTOP, a slow disk) holds nothing when it
// wakes, and only the token, checked where the data is written (a fenced
// write, WriteOptions::fence_lock and fence_token, in any keyspace), stops
// it from acting as if it did.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "tally/client.hpp"
#include "tally/status.hpp"

namespace tally {

struct LockOptions {
  std::string keyspace = "locks";  // a linearizable keyspace
  uint64_t ttl_ms = 10'000;        // the lease; renewed every third of it
  // Who holds it, as `status` shows it; also how an acquire whose outcome was
  // unknown recognizes its own holding. Empty: "<hostname>:<pid>:<random>".
  std::string holder;
};

struct LockState {
  bool held = false;      // false: free (never taken, released, or its lease ran out)
  std::string holder;     // when held
  uint64_t token = 0;     // the holding's fencing token (the last one when free; 0: never taken)
  uint64_t ttl_ms = 0;    // when held: the lease's time left, when the read reached its node
};

// One try to take `name`: its token, or kLocked naming who holds it and for
// how much longer. Errors also: the get's and put_if's (kUnknownKeyspace,
// kInvalidArgument when the keyspace is not linearizable, kTimeout...).
Result<uint64_t> lock_try_acquire(Client& client, std::string_view name, const LockOptions& options);
// Tries until it has the lock or `wait` has passed (then kLocked).
Result<uint64_t> lock_acquire(Client& client, std::string_view name, const LockOptions& options,
                              std::chrono::milliseconds wait);
// Extends the lease of the holding `token` by options.ttl_ms. kLocked when it
// is no longer held by that holding (the lease ran out, or another took it).
Status lock_renew(Client& client, std::string_view name, uint64_t token, const LockOptions& options);
// Frees the holding `token`. kLocked when it was no longer held by it.
Status lock_release(Client& client, std::string_view name, uint64_t token, const LockOptions& options);
Result<LockState> lock_status(Client& client, std::string_view name, std::string_view keyspace = "locks");

// The default holder name: "<hostname>:<pid>:<random>".
std::string default_lock_holder();

// A held lock that keeps its lease alive from a thread of its own and
// releases it when destroyed. `on_lost` runs (on that thread) if a renewal
// finds the lock no longer held, or cannot reach the cluster before the lease
// would have run out: from then on held() is false.
class Lock {
 public:
  static Result<std::unique_ptr<Lock>> acquire(Client& client, std::string name, LockOptions options,
                                               std::chrono::milliseconds wait,
                                               std::function<void(const Status&)> on_lost = {});
  ~Lock();
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  uint64_t token() const { return token_; }
  const std::string& name() const { return name_; }
  bool held() const { return held_.load(); }
  // Stops renewing and frees the lock (if still held). Idempotent.
  Status release();

 private:
  Lock(Client& client, std::string name, LockOptions options, uint64_t token,
       std::function<void(const Status&)> on_lost);
  void keep_alive();

  Client& client_;
  std::string name_;
  LockOptions options_;
  uint64_t token_;
  std::function<void(const Status&)> on_lost_;
  std::atomic<bool> held_{true};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread renewer_;
};

}  // namespace tally
