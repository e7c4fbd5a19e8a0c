// Random histories of one key over a few replicas and many clients, for the DVV
// property tests: every state they produce is reachable by update/sync from the
// empty state (the only states the laws of sync are claimed for), and each one
// is shadowed by an exact model of its causal history to check the DVV set
// against.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "quorum/dvv.hpp"
#include "quorum/version.hpp"
#include "raft/random.hpp"

namespace tally::quorum::test {


// The exact causal history of a state, as sets of dots: every write it has seen,
// and every write some write it has seen superseded. Its live writes are
// seen \ dead. Merging histories is set union, with no vector in sight: this is
// what a DVV set claims to summarise in O(replicas) space.
struct CausalHistory {
  std::vector<Dot> seen;  // sorted
  std::vector<Dot> dead;  // sorted, a subset of seen
};

inline std::vector<Dot> dot_union(const std::vector<Dot>& a, const std::vector<Dot>& b) {
  std::vector<Dot> out;
  out.reserve(a.size() + b.size());
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

inline CausalHistory history_union(const CausalHistory& a, const CausalHistory& b) {
  return {dot_union(a.seen, b.seen), dot_union(a.dead, b.dead)};
}

struct Replica {
  ReplicaId id;
  DvvSet state;
  CausalHistory history;
};

// A client keeps the context of its last read (possibly stale by now).
struct Client {
  VersionVector context;
  CausalHistory history;  // of what that read returned
  bool wrote = false;     // has it written at least once
};

class RandomHistory {
 public:
  RandomHistory(uint64_t seed, std::vector<ReplicaId> ids, size_t clients,
                size_t max_siblings = 1000)
      : rng_(seed), clients_(clients), max_siblings_(max_siblings) {
    for (ReplicaId id : ids) replicas_.push_back({id, {}, {}});
  }

  // One random operation: a quorum read, a write with the reader's context, a
  // blind write (no context), a delete, or an exchange between two replicas.
  void step() {
    const size_t roll = static_cast<size_t>(rng_.uniform(100));
    Client& client = clients_[static_cast<size_t>(rng_.uniform(clients_.size()))];
    if (roll < 30) {
      read(client);
    } else if (roll < 55) {
      write(client, client.context, client.history, /*tombstone=*/false);
    } else if (roll < 65) {
      write(client, {}, {}, /*tombstone=*/false);
    } else if (roll < 70) {
      write(client, client.context, client.history, /*tombstone=*/true);
    } else {
      exchange();
    }
  }

  // Every replica learns every other's state: what anti-entropy converges to.
  void converge() {
    DvvSet all;
    CausalHistory history;
    for (const Replica& r : replicas_) {
      all = sync(all, r.state);
      history = history_union(history, r.history);
    }
    for (Replica& r : replicas_) {
      r.state = all;
      r.history = history;
    }
  }

  // Empty if `r`'s DVV set says exactly what its causal history says; otherwise
  // what differs.
  std::string check(const Replica& r) const {
    if (Status st = validate(r.state); !st.ok()) return st.to_string();
    // The clock must stand for exactly the seen set: (id, 1..clock[id]).
    std::map<ReplicaId, uint64_t> seen_count;
    for (const Dot& d : r.history.seen) {
      ++seen_count[d.replica];
      if (!r.state.clock.covers(d)) return "clock misses a seen dot";
    }
    for (const auto& [id, counter] : r.state.clock.entries) {
      if (seen_count[id] != counter) return "clock covers a dot never seen";
    }
    std::vector<Dot> live;
    std::set_difference(r.history.seen.begin(), r.history.seen.end(), r.history.dead.begin(),
                        r.history.dead.end(), std::back_inserter(live));
    std::vector<Dot> sibling_dots;
    for (const Sibling& s : r.state.siblings) {
      sibling_dots.push_back(s.dot);
      auto it = written_.find(s.dot);
      if (it == written_.end() || it->second != s.value) return "sibling carries a foreign value";
    }
    if (sibling_dots != live) return "siblings differ from the live writes of the history";
    return {};
  }

  std::vector<Replica>& replicas() { return replicas_; }
  const std::vector<Client>& clients() const { return clients_; }
  size_t rejected_writes() const { return rejected_; }
  size_t writes() const { return written_.size(); }
  size_t distinct_writing_clients() const {
    return std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return c.wrote; });
  }

 private:
  void read(Client& client) {
    // A quorum read of 1..N replicas, merged as the coordinator does.
    const size_t r = 1 + static_cast<size_t>(rng_.uniform(replicas_.size()));
    const size_t first = static_cast<size_t>(rng_.uniform(replicas_.size()));
    std::vector<DvvSet> replies;
    CausalHistory history;
    for (size_t i = 0; i < r; ++i) {
      const Replica& rep = replicas_[(first + i) % replicas_.size()];
      replies.push_back(rep.state);
      history = history_union(history, rep.history);
    }
    client.context = join(sync_all(replies));
    client.history = std::move(history);
  }

  void write(Client& client, const VersionVector& context, const CausalHistory& seen,
             bool tombstone) {
    Replica& rep = replicas_[static_cast<size_t>(rng_.uniform(replicas_.size()))];
    const std::string value = tombstone ? "" : "w" + std::to_string(written_.size());
    HlcTimestamp ts{written_.size(), 0, rep.id};
    ClientWrite w = tombstone ? ClientWrite::Delete(ts) : ClientWrite::Put(value, ts);
    Result<DvvSet> next = update(rep.state, context, std::move(w), rep.id, max_siblings_);
    if (!next.ok()) {
      ++rejected_;
      return;
    }
    const Dot dot{rep.id, next->clock.get(rep.id)};
    written_[dot] = value;
    client.wrote = true;
    rep.state = std::move(next).value();
    // The write saw what the replica and the context saw, and superseded
    // exactly what the context saw.
    CausalHistory h = history_union(rep.history, seen);
    h.seen = dot_union(h.seen, {dot});
    h.dead = dot_union(h.dead, seen.seen);
    rep.history = std::move(h);
  }

  void exchange() {
    Replica& a = replicas_[static_cast<size_t>(rng_.uniform(replicas_.size()))];
    Replica& b = replicas_[static_cast<size_t>(rng_.uniform(replicas_.size()))];
    const DvvSet merged = sync(a.state, b.state);
    const CausalHistory history = history_union(a.history, b.history);
    // Read repair pushes one way; anti-entropy both ways.
    b.state = merged;
    b.history = history;
    if (rng_.chance(50, 100)) {
      a.state = merged;
      a.history = history;
    }
  }

  SplitMix64 rng_;
  std::vector<Replica> replicas_;
  std::vector<Client> clients_;
  size_t max_siblings_;
  std::map<Dot, std::string> written_;  // every dot minted, and its value
  size_t rejected_ = 0;
};

}  // namespace tally::quorum::test
