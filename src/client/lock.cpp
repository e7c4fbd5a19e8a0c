// Locks with leases on a linearizable keyspace (tally/lock.hpp; the value's
// format and where tokens come from: common/lock_record.hpp).
#include "tally/lock.hpp"

#include <unistd.h>

#include <random>

#include "common/linear_version.hpp"
#include "common/lock_record.hpp"

namespace tally {

namespace {

using lockrec::LockRecord;

struct Current {
  std::optional<LockRecord> record;  // nullopt: absent (never taken, or its lease ran out)
  uint64_t seq = 0;                  // the key's version
  std::string context;
  uint64_t ttl_ms = 0;
  lockrec::LockRead read() const { return {record, seq}; }
};

std::string holder_of(const LockOptions& o) { return o.holder.empty() ? default_lock_holder() : o.holder; }

Result<Current> read_lock(Client& c, std::string_view name, std::string_view keyspace) {
  ReadOptions r;
  r.keyspace = std::string(keyspace);
  auto got = c.get(name, r);
  if (!got.ok()) {
    if (got.status().code() != Code::kUnknownKeyspace) return got.status();
    return Status(Code::kUnknownKeyspace, got.status().message() + "; locks need a linearizable keyspace: tally "
                                                                   "keyspace create " + std::string(keyspace) +
                                                                   " --mode linearizable");
  }
  Current cur;
  auto seq = version_seq(got->context);
  if (!seq) {
    return Status::InvalidArgument("keyspace '" + std::string(keyspace) +
                                   "' is not linearizable: locks need one (tally keyspace create " +
                                   std::string(keyspace) + " --mode linearizable)");
  }
  cur.seq = *seq;
  cur.context = std::move(got->context);
  if (got->found()) {
    cur.record = lockrec::decode(got->values.front());
    if (!cur.record) {
      return Status::InvalidArgument("key '" + std::string(name) + "' of keyspace '" + std::string(keyspace) +
                                     "' holds a value that is not a lock");
    }
    if (!got->ttl_ms.empty()) cur.ttl_ms = got->ttl_ms.front();
  }
  return cur;
}

Status held_by_other(std::string_view name, const Current& cur) {
  return Status(Code::kLocked, "lock '" + std::string(name) + "' is held by " + cur.record->holder + " (token " +
                                   std::to_string(cur.record->token) + ") for another " +
                                   std::to_string(cur.ttl_ms) + " ms");
}

// Writes `next` over exactly the version `cur` read, with `ttl_ms`.
Result<CasResult> write_over(Client& c, std::string_view name, const LockOptions& o, const Current& cur,
                             const LockRecord& next, uint64_t ttl_ms) {
  WriteOptions w;
  w.keyspace = o.keyspace;
  w.ttl_ms = ttl_ms;
  w.if_version = cur.context;
  return c.put_if(name, lockrec::encode(next), w);
}

constexpr int kAttempts = 5;  // reads again when the key changed between a read and its write

}  // namespace

std::string default_lock_holder() {
  static const std::string holder = [] {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    std::random_device rd;
    return std::string(host[0] ? host : "host") + ":" + std::to_string(getpid()) + ":" +
           std::to_string(rd() % 1000000);
  }();
  return holder;
}

Result<uint64_t> lock_try_acquire(Client& c, std::string_view name, const LockOptions& o) {
  if (o.ttl_ms == 0) return Status::InvalidArgument("a lock's lease (ttl) must be above zero");
  const std::string holder = holder_of(o);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto cur = read_lock(c, name, o.keyspace);
    if (!cur.ok()) return cur.status();
    const auto plan = lockrec::plan_acquire(cur->read(), holder);
    if (plan.verdict != lockrec::LockVerdict::kWrite) return held_by_other(name, *cur);
    // Free: take it over the version read. The new version is the token.
    auto put = write_over(c, name, o, *cur, plan.next, o.ttl_ms);
    if (!put.ok()) {
      // Outcome unknown: whether it is ours is for a read to say.
      if (put.status().code() != Code::kTimeout && put.status().code() != Code::kIoError) return put.status();
      auto after = read_lock(c, name, o.keyspace);
      if (after.ok() && after->record && *after->record == plan.next) return plan.next.token;
      return put.status();
    }
    if (put->applied) return plan.next.token;
    // Changed since the read (another acquirer won, or a renewal): read again.
  }
  return Status(Code::kContention, "lock '" + std::string(name) + "' kept changing while it was being taken");
}

Result<uint64_t> lock_acquire(Client& c, std::string_view name, const LockOptions& o,
                              std::chrono::milliseconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::mt19937_64 rng(std::random_device{}());
  for (;;) {
    auto got = lock_try_acquire(c, name, o);
    if (got.ok() || got.status().code() != Code::kLocked) return got;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return got;
    // Poll, with jitter so that waiters spread out; never past the deadline.
    auto pause = std::chrono::milliseconds(50 + rng() % 100);
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
  }
}

Status lock_renew(Client& c, std::string_view name, uint64_t token, const LockOptions& o) {
  if (o.ttl_ms == 0) return Status::InvalidArgument("a lock's lease (ttl) must be above zero");
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto cur = read_lock(c, name, o.keyspace);
    if (!cur.ok()) return cur.status();
    // Only the very holding that took it: the token says which.
    const auto plan = lockrec::plan_renew(cur->read(), token, holder_of(o));
    if (plan.verdict != lockrec::LockVerdict::kWrite) {
      return Status(Code::kLocked, "lock '" + std::string(name) + "' is no longer held by token " +
                                       std::to_string(token) + " (its lease ran out or another took it)");
    }
    auto put = write_over(c, name, o, *cur, plan.next, o.ttl_ms);
    if (!put.ok()) return put.status();
    if (put->applied) return Status::Ok();
  }
  return Status(Code::kContention, "lock '" + std::string(name) + "' kept changing while it was being renewed");
}

Status lock_release(Client& c, std::string_view name, uint64_t token, const LockOptions& o) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    auto cur = read_lock(c, name, o.keyspace);
    if (!cur.ok()) return cur.status();
    const auto plan = lockrec::plan_release(cur->read(), token);
    if (plan.verdict != lockrec::LockVerdict::kWrite) {
      return Status(Code::kLocked, "lock '" + std::string(name) + "' is not held by token " + std::to_string(token));
    }
    auto put = write_over(c, name, o, *cur, plan.next, 0);
    if (!put.ok()) return put.status();
    if (put->applied) return Status::Ok();
  }
  return Status(Code::kContention, "lock '" + std::string(name) + "' kept changing while it was being released");
}

Result<LockState> lock_status(Client& c, std::string_view name, std::string_view keyspace) {
  auto cur = read_lock(c, name, keyspace);
  if (!cur.ok()) return cur.status();
  LockState st;
  if (cur->record) {
    st.held = cur->record->held();
    st.holder = cur->record->holder;
    st.token = cur->record->token;
    st.ttl_ms = st.held ? cur->ttl_ms : 0;
  }
  return st;
}

// ---- Lock ----------------------------------------------------------------------------

Result<std::unique_ptr<Lock>> Lock::acquire(Client& client, std::string name, LockOptions options,
                                            std::chrono::milliseconds wait,
                                            std::function<void(const Status&)> on_lost) {
  if (options.holder.empty()) options.holder = default_lock_holder();
  auto token = lock_acquire(client, name, options, wait);
  if (!token.ok()) return token.status();
  return std::unique_ptr<Lock>(new Lock(client, std::move(name), std::move(options), *token, std::move(on_lost)));
}

Lock::Lock(Client& client, std::string name, LockOptions options, uint64_t token,
           std::function<void(const Status&)> on_lost)
    : client_(client),
      name_(std::move(name)),
      options_(std::move(options)),
      token_(token),
      on_lost_(std::move(on_lost)),
      renewer_([this] { keep_alive(); }) {}

Lock::~Lock() { release(); }

void Lock::keep_alive() {
  using namespace std::chrono;
  const auto every = milliseconds(std::max<uint64_t>(1, options_.ttl_ms / 3));
  auto lease_ends = steady_clock::now() + milliseconds(options_.ttl_ms);
  std::unique_lock lk(mu_);
  while (!stopping_) {
    if (cv_.wait_for(lk, every, [this] { return stopping_; })) break;
    lk.unlock();
    const auto sent = steady_clock::now();
    Status s = lock_renew(client_, name_, token_, options_);
    lk.lock();
    if (stopping_) break;
    if (s.ok()) {
      lease_ends = sent + milliseconds(options_.ttl_ms);
      continue;
    }
    // Not ours any more, or unreachable until the lease would have ended.
    if (s.code() == Code::kLocked || steady_clock::now() >= lease_ends) {
      held_ = false;
      lk.unlock();
      if (on_lost_) on_lost_(s);
      return;
    }
  }
}

Status Lock::release() {
  {
    std::lock_guard lk(mu_);
    if (stopping_) return Status::Ok();
    stopping_ = true;
  }
  cv_.notify_all();
  if (renewer_.joinable()) renewer_.join();
  if (!held_.exchange(false)) return Status::Ok();
  return lock_release(client_, name_, token_, options_);
}

}  // namespace tally
