// The value a lock keeps under its name in a linearizable keyspace
// (docs/locks.md): who holds it and the fencing token of that holding, as
// text, "tally-lock <token> <holder>"; an empty holder: free (released), the
// last token kept for `status`. The lease is the value's time to live.
//
// The token is the key's Paxos sequence number when the holding began: an
// acquisition writes only over the version it read ("v<seq>", if-version),
// so it becomes version seq + 1, and that is the token. Every change of the
// key (acquisitions, renewals, releases, even deletes) raises the sequence,
// durably on a majority of the replicas, so tokens strictly increase per
// name across crashes and leader changes.
//
// What each lock operation writes, given what it read (plan_acquire,
// plan_renew, plan_release), is decided here, once: the client library
// (tally/lock.hpp), the RESP commands TALLY.LOCK and TALLY.UNLOCK and the
// simulator's lock check (tests/sim/lock_sim_test.cpp) all follow it. Each
// plan's write goes over exactly the version read (if-version), so a change
// made between the read and the write makes it fail, and the caller reads
// again.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tally::lockrec {

struct LockRecord {
  uint64_t token = 0;
  std::string holder;  // empty: free
  bool held() const { return !holder.empty(); }
  bool operator==(const LockRecord&) const = default;
};

// The token of a holding written over version `read_seq` of the lock's key
// (with if-version): the version that write makes, read_seq + 1.
inline uint64_t token_over(uint64_t read_seq) { return read_seq + 1; }
// The holding `r`, released: free, its token kept for `status`.
inline LockRecord freed(const LockRecord& r) { return LockRecord{r.token, ""}; }

// What a read of the lock's key found: its record (nullopt: absent, never
// taken or its lease ran out) and the key's version.
struct LockRead {
  std::optional<LockRecord> record;
  uint64_t seq = 0;
};

// What an operation does after its read.
enum class LockVerdict {
  kWrite,        // write `next` over the version read (if-version)
  kHeldByOther,  // acquire: another holding has it (`next`); nothing to write
  kNotHolder,    // renew, release: the lock is not held by that token any more
};
struct LockPlan {
  LockVerdict verdict = LockVerdict::kWrite;
  LockRecord next;
};

// Take it for `holder` if it is free: the new holding's token is the version
// the write will make.
LockPlan plan_acquire(const LockRead& read, std::string holder);
// Extend the holding `token`, unchanged, only while that very holding still
// has it. `renewer` names the caller (written only by the mutation below).
LockPlan plan_renew(const LockRead& read, uint64_t token, std::string renewer);
// Free the holding `token`, keeping its token for `status`.
LockPlan plan_release(const LockRead& read, uint64_t token);

// A deliberate bug, for the simulation test that must catch it
// (tests/sim/lock_sim_test.cpp; docs/locks.md). Off unless a test turns it on.
struct LockMutations {
  bool renew_ignores_token = false;  // renew writes the caller's holding whoever holds the lock
};
LockMutations& lock_mutations();

std::string encode(const LockRecord& r);
// nullopt: the key holds something that is not a lock.
std::optional<LockRecord> decode(std::string_view value);

}  // namespace tally::lockrec
