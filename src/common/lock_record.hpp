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
// Shared by the client library (tally/lock.hpp) and the RESP commands
// TALLY.LOCK and TALLY.UNLOCK.
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
};

// The token of a holding written over version `read_seq` of the lock's key
// (with if-version): the version that write makes, read_seq + 1.
inline uint64_t token_over(uint64_t read_seq) { return read_seq + 1; }
// The holding `r`, released: free, its token kept for `status`.
inline LockRecord freed(const LockRecord& r) { return LockRecord{r.token, ""}; }

std::string encode(const LockRecord& r);
// nullopt: the key holds something that is not a lock.
std::optional<LockRecord> decode(std::string_view value);

}  // namespace tally::lockrec
