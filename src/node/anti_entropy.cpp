#include "node/anti_entropy.hpp"

#include <algorithm>

#include "codec/record_codec.hpp"
#include "quorum/dvv.hpp"

namespace tally {

namespace {
constexpr uint64_t kCallTimeoutUs = 5'000'000;
constexpr size_t kLeavesPerFetch = 16;
constexpr size_t kPushBytes = 1 << 20;  // records per push message, about
constexpr size_t kScanPage = 1024;
constexpr size_t kCollectPerTick = 256;

}  // namespace

struct AntiEntropy::Exchange {
  Task task;
  ring::TokenRange range;
  int level = 0;
  std::vector<uint32_t> indices{0};
  std::vector<uint32_t> leaves;
  size_t next_leaf = 0;
  uint64_t bytes = 0;
  uint64_t repaired = 0;  // keys changed here or on the peer
};

AntiEntropy::AntiEntropy(Env& env, Logger log, const ClusterView& view, store::RecordStore& store,
                         PeerCalls& peers, NodeStats& stats, ReplicaService& replica,
                         AntiEntropyOptions options, Hooks hooks)
    : env_(env),
      log_(std::move(log)),
      view_(view),
      store_(store),
      peers_(peers),
      stats_(stats),
      replica_(replica),
      options_(options),
      hooks_(std::move(hooks)) {}

bool AntiEntropy::movement_in_progress(const meta::ClusterMap& map) {
  if (map.movement) return true;
  return std::any_of(map.members.begin(), map.members.end(), [](const meta::Member& m) {
    return m.state == meta::NodeState::kJoining || m.state == meta::NodeState::kLeaving;
  });
}

void AntiEntropy::start() { schedule(0); }

void AntiEntropy::stop() {
  stopped_ = true;
  if (timer_) env_.cancel_timer(timer_);
  timer_ = 0;
}

void AntiEntropy::disk_reopened() {
  layout_.clear();
  layout_epoch_ = 0;
  tombs_.clear();
  schedule(0);
}

size_t AntiEntropy::keys_in_trees() const {
  size_t n = 0;
  for (const auto& [name, ks] : trees_) {
    for (const auto& [end, t] : ks.by_end) n += t.tree.size();
  }
  return n;
}

// ---- the trees ---------------------------------------------------------------------

AntiEntropy::Layout AntiEntropy::layout() const {
  Layout out;
  if (view_.epoch() == 0 || view_.self == ring::kNoNode) return out;
  for (const auto& ks : view_.map.keyspaces) {
    for (const auto& rr : view_.ring.replica_ranges(view_.replicas_for(ks))) {
      if (!rr.replicas.contains(view_.self)) continue;
      out.emplace_back(ks.name, rr.range.start, rr.range.end,
                       std::vector<ring::NodeId>(rr.replicas.begin(), rr.replicas.end()));
    }
  }
  return out;
}

// New, empty trees for `layout`, filled from a scan of every record. Writes
// that land meanwhile go into the trees at once (observe) and their scan
// result, older, is skipped.
void AntiEntropy::rebuild(Layout layout) {
  trees_.clear();
  tree_count_ = 0;
  for (const auto& [ks, start, end, replicas] : layout) {
    auto& kt = trees_[ks];
    kt.seed = ring::keyspace_seed(ks);
    ring::PreferenceList list;
    for (ring::NodeId r : replicas) list.push_back(r);
    kt.by_end.emplace(end, Tree{quorum::MerkleTree(ring::TokenRange{start, end}), list});
    ++tree_count_;
  }
  layout_ = std::move(layout);
  building_ = true;
  seen_while_building_.clear();
  TALLY_LOG(log_, kInfo) << "anti-entropy: building " << tree_count_ << " trees from the store";
  scan_from(store::RecordStore::data_begin(), ++build_generation_);
}

void AntiEntropy::scan_from(std::string start, uint64_t generation) {
  store_.scan(start, store::RecordStore::data_end(), kScanPage, [this, generation](auto r) {
    if (stopped_ || generation != build_generation_) return;
    if (!r.ok()) {
      TALLY_LOG(log_, kError) << "anti-entropy: cannot scan the store: " << r.status().to_string();
      building_ = false;
      layout_epoch_ = 0;  // try again on the next tick
      return;
    }
    for (auto& [dkey, record] : *r) {
      if (seen_while_building_.count(dkey)) continue;
      std::string_view ks, key;
      if (store::RecordStore::parse_data_key(dkey, ks, key)) track(dkey, ks, key, &record);
    }
    if (r->size() == kScanPage)
      return scan_from(r->back().first + std::string(1, '\0'), generation);
    building_ = false;
    seen_while_building_.clear();
    TALLY_LOG(log_, kInfo) << "anti-entropy: " << tree_count_ << " trees hold " << keys_in_trees()
                           << " keys, " << tombs_.size() << " tombstones";
  });
}

AntiEntropy::Tree* AntiEntropy::find_tree(const std::string& keyspace, uint64_t range_start,
                                          uint64_t range_end) {
  auto ks = trees_.find(keyspace);
  if (ks == trees_.end()) return nullptr;
  auto t = ks->second.by_end.find(range_end);
  if (t == ks->second.by_end.end() || t->second.tree.range().start != range_start) return nullptr;
  return &t->second;
}

AntiEntropy::Tree* AntiEntropy::tree_of(std::string_view keyspace, uint64_t position) {
  auto ks = trees_.find(keyspace);
  if (ks == trees_.end() || ks->second.by_end.empty()) return nullptr;
  auto& by_end = ks->second.by_end;
  auto t = by_end.lower_bound(position);
  if (t == by_end.end()) t = by_end.begin();  // past the last token: the wrapping range
  return t->second.tree.range().contains(position) ? &t->second : nullptr;
}

void AntiEntropy::observe(const std::string& dkey, const quorum::DvvSet* record) {
  std::string_view ks, key;
  if (!store::RecordStore::parse_data_key(dkey, ks, key)) return;
  if (building_) seen_while_building_.insert(dkey);
  track(dkey, ks, key, record);
}

// Runs on every write the store takes: no copies of the key unless it is a
// tombstone's, and the keyspace's seed from its trees.
void AntiEntropy::track(const std::string& dkey, std::string_view ks, std::string_view key,
                        const quorum::DvvSet* record) {
  auto kt = trees_.find(ks);
  const uint64_t position =
      kt != trees_.end() ? ring::key_position(kt->second.seed, key) : ring::key_position(ks, key);
  const uint64_t summary = record ? quorum::summary(*record) : 0;
  // A tombstone, or a record whose every value has a time to live: the
  // latter is tracked as a tombstone from its last expiry on.
  const std::optional<uint64_t> dead_from = record ? quorum::dead_from(*record) : std::nullopt;
  if (dead_from) {
    auto [it, fresh] = tombs_.try_emplace(dkey);
    if (fresh || it->second.summary != summary) {
      // A new tombstone, or a new one over it: what others were seen holding is stale.
      const uint64_t wall = env_.wall_ms();
      const uint64_t since = env_.now_us() + (*dead_from > wall ? (*dead_from - wall) * 1000 : 0);
      it->second = Tomb{std::string(ks),  std::string(key), position, summary, record->clock.max_of_node(view_.self),
                        since, {},  false};
    }
  } else if (!tombs_.empty()) {
    tombs_.erase(dkey);
  }
  if (Tree* t = tree_of(ks, position)) {
    if (record) {
      t->tree.set(key, position, summary);
    } else {
      t->tree.erase(key, position);
    }
  }
}

// ---- the schedule ------------------------------------------------------------------

void AntiEntropy::schedule(uint64_t delay_us) {
  if (stopped_ || timer_) return;
  timer_ = env_.set_timer(delay_us, [this] {
    timer_ = 0;
    tick();
  });
}

std::vector<AntiEntropy::Task> AntiEntropy::tasks(const std::string& keyspace) const {
  std::vector<Task> out;
  for (const auto& [name, kt] : trees_) {
    if (!keyspace.empty() && name != keyspace) continue;
    for (const auto& [end, t] : kt.by_end) {
      for (ring::NodeId r : t.replicas) {
        if (r != view_.self) out.push_back(Task{name, end, r});
      }
    }
  }
  return out;
}

void AntiEntropy::tick() {
  if (stopped_ || exchanging_) return;
  // A new ring (or new keyspaces) cuts the ranges differently: new trees.
  if (view_.epoch() != layout_epoch_ && !view_.map.members.empty()) {
    layout_epoch_ = view_.epoch();
    Layout next = layout();
    if (next != layout_ || tree_count_ == 0) {
      queue_.clear();
      rebuild(std::move(next));
    }
  }
  if (building_ || view_.epoch() == 0) return schedule(options_.interval_us);
  if (repair_waiting_) {
    repair_waiting_ = false;
    auto list = tasks(repair_keyspace_);
    queue_.assign(list.begin(), list.end());
    repair_.total = list.size();
    TALLY_LOG(log_, kInfo) << "repair of "
                           << (repair_keyspace_.empty() ? "every keyspace"
                                                        : "'" + repair_keyspace_ + "'")
                           << ": " << list.size() << " range comparisons";
  }
  collect();
  if (queue_.empty()) {
    if (repair_.running) {
      repair_.running = false;
      repair_.finished_us = env_.now_us();
      TALLY_LOG(log_, kInfo) << "repair finished: " << repair_.done << " range exchanges ("
                             << repair_.skipped << " skipped), " << repair_.keys_repaired
                             << " keys repaired";
    }
    if (!options_.background) return schedule(options_.interval_us);
    for (auto& t : tasks({})) queue_.push_back(std::move(t));
    if (queue_.empty()) return schedule(options_.interval_us);
  }
  Task task = std::move(queue_.front());
  queue_.pop_front();
  run(std::move(task));
}

// ---- one exchange (this node initiates) ---------------------------------------------

void AntiEntropy::run(Task task) {
  Tree* t = nullptr;
  if (auto ks = trees_.find(task.keyspace); ks != trees_.end()) {
    auto it = ks->second.by_end.find(task.range_end);
    if (it != ks->second.by_end.end()) t = &it->second;
  }
  auto ex = std::make_shared<Exchange>();
  ex->task = std::move(task);
  exchanging_ = true;
  if (!t || !peers_.is_up(ex->task.peer)) return finish(ex, true);
  ex->range = t->tree.range();
  compare(ex);
}

void AntiEntropy::compare(std::shared_ptr<Exchange> ex) {
  Tree* t = find_tree(ex->task.keyspace, ex->range.start, ex->range.end);
  if (!t) return finish(ex, true);
  wire::AeCompare req{
      ex->task.keyspace, ex->range.start, ex->range.end, static_cast<uint32_t>(ex->level), {}, {},
      view_.self,        view_.epoch()};
  for (uint32_t i : ex->indices) {
    req.indices.push_back(i);
    req.hashes.push_back(t->tree.hash(ex->level, i));
  }
  peers_.call(ex->task.peer, std::move(req), kCallTimeoutUs,
              [this, ex](Result<wire::Message> reply) {
                if (stopped_) return;
                auto* r = reply.ok() ? std::get_if<wire::AeCompareReply>(&reply->body) : nullptr;
                if (!r || r->hashes.size() != ex->indices.size()) return finish(ex, true);
                if (hooks_.saw_epoch) hooks_.saw_epoch(r->epoch, ex->task.peer);
                Tree* t = find_tree(ex->task.keyspace, ex->range.start, ex->range.end);
                if (!t) return finish(ex, true);
                std::vector<uint64_t> mine;
                for (uint32_t i : ex->indices) mine.push_back(t->tree.hash(ex->level, i));
                std::vector<uint32_t> differ = quorum::differing(ex->indices, mine, r->hashes);
                std::vector<uint32_t> equal;
                for (size_t i = 0; i < ex->indices.size(); ++i) {
                  if (mine[i] == r->hashes[i]) equal.push_back(ex->indices[i]);
                }
                confirm_subtrees(ex->task.keyspace, *t, ex->level, equal, ex->task.peer);
                if (differ.empty()) return finish(ex, false);
                if (ex->level == quorum::MerkleTree::kLeafLevel) {
                  ex->leaves = std::move(differ);
                  stats_.add(Counter::kAeExchanges);
                  return fetch_next(ex);
                }
                ex->indices.clear();
                for (uint32_t i : differ) {
                  for (uint32_t c : quorum::MerkleTree::children(i)) ex->indices.push_back(c);
                }
                ++ex->level;
                compare(ex);
              });
}

// One chunk of differing leaves: the peer's keys and summaries in them
// first, then the records of just the keys whose summaries differ from ours
// (or that we lack). Keys whose summaries agree move nothing; a tombstone
// among them is noted as held by the peer, as is one the peer holds nothing of.
void AntiEntropy::fetch_next(std::shared_ptr<Exchange> ex) {
  if (ex->next_leaf >= ex->leaves.size()) return finish(ex, false);
  wire::AeFetch req{ex->task.keyspace, ex->range.start, ex->range.end, {}, {}, view_.epoch()};
  const size_t end = std::min(ex->leaves.size(), ex->next_leaf + kLeavesPerFetch);
  for (; ex->next_leaf < end; ++ex->next_leaf) req.leaves.push_back(ex->leaves[ex->next_leaf]);
  std::vector<uint64_t> leaves = req.leaves;
  peers_.call(
      ex->task.peer, std::move(req), kCallTimeoutUs,
      [this, ex, leaves = std::move(leaves)](Result<wire::Message> reply) {
        if (stopped_) return;
        auto* r = reply.ok() ? std::get_if<wire::AeFetchReply>(&reply->body) : nullptr;
        if (!r || r->keys.size() != r->summaries.size()) return finish(ex, true);
        if (hooks_.saw_epoch) hooks_.saw_epoch(r->epoch, ex->task.peer);
        Tree* t = find_tree(ex->task.keyspace, ex->range.start, ex->range.end);
        if (!t) return finish(ex, true);
        std::map<std::string, uint64_t> theirs;
        for (size_t i = 0; i < r->keys.size(); ++i) {
          ex->bytes += r->keys[i].size() + 8;
          theirs.emplace(std::move(r->keys[i]), r->summaries[i]);
        }
        std::vector<std::string> want, consider;
        // `lacking`: they hold nothing of the key, which confirms only a
        // record that reads as absent already (not values yet to expire).
        auto held_tomb = [&](const std::string& key, uint64_t summary, bool lacking) {
          const std::string dkey = store::RecordStore::data_key(ex->task.keyspace, key);
          auto it = tombs_.find(dkey);
          if (it == tombs_.end() || it->second.summary != summary) return false;
          if (lacking && env_.now_us() < it->second.since_us) return false;
          confirm(dkey, ex->task.peer);
          return true;
        };
        for (uint64_t leaf : leaves) {
          for (const auto& [key, mine] : t->tree.leaf_keys(static_cast<uint32_t>(leaf))) {
            auto it = theirs.find(key);
            if (it == theirs.end()) {
              if (!held_tomb(key, mine, true)) consider.push_back(key);  // they lack it: ours goes over
              continue;
            }
            if (it->second == mine) {
              held_tomb(key, mine, false);
            } else {
              want.push_back(key);
              consider.push_back(key);
            }
            theirs.erase(it);
          }
        }
        for (auto& [key, summary] : theirs) {  // keys we lack
          want.push_back(key);
          consider.push_back(key);
        }
        if (want.empty()) return reconcile(ex, std::move(consider), {});
        wire::AeFetch records{ex->task.keyspace, ex->range.start, ex->range.end, {},
                              std::move(want),   view_.epoch()};
        peers_.call(
            ex->task.peer, std::move(records), kCallTimeoutUs,
            [this, ex, consider = std::move(consider)](Result<wire::Message> reply) mutable {
              if (stopped_) return;
              auto* r = reply.ok() ? std::get_if<wire::AeFetchReply>(&reply->body) : nullptr;
              if (!r || r->keys.size() != r->records.size()) return finish(ex, true);
              std::map<std::string, quorum::DvvSet> theirs;
              for (size_t i = 0; i < r->keys.size(); ++i) {
                ex->bytes += codec::record_size_estimate(r->keys[i], r->records[i]);
                theirs.emplace(std::move(r->keys[i]), std::move(r->records[i]));
              }
              reconcile(ex, std::move(consider), std::move(theirs));
            });
      });
}

// Their records merge into ours; then every key of the leaves where our copy
// (merged) is not what they hold goes back to them. Tombstones held alike, or
// that they hold nothing of, are noted as held by the peer.
void AntiEntropy::reconcile(std::shared_ptr<Exchange> ex, std::vector<std::string> my_keys,
                            std::map<std::string, quorum::DvvSet> theirs) {
  auto theirs_p = std::make_shared<std::map<std::string, quorum::DvvSet>>(std::move(theirs));
  auto keys = std::make_shared<std::vector<std::string>>(std::move(my_keys));
  for (const auto& [k, r] : *theirs_p) keys->push_back(k);
  std::sort(keys->begin(), keys->end());
  keys->erase(std::unique(keys->begin(), keys->end()), keys->end());

  // Step 2, once every merge is in: read our copies and compare.
  auto compare_copies = [this, ex, theirs_p, keys] {
    auto left = std::make_shared<size_t>(keys->size() + 1);
    auto out = std::make_shared<std::vector<std::pair<std::string, quorum::DvvSet>>>();
    auto one_done = [this, ex, left, out] {
      if (--*left == 0) push(ex, std::move(*out));
    };
    for (const std::string& key : *keys) {
      store_.get(ex->task.keyspace, key,
                 [this, ex, theirs_p, key, out, one_done](Result<std::optional<quorum::DvvSet>> r) {
                   if (r.ok() && r->has_value()) {
                     const quorum::DvvSet& mine = **r;
                     auto it = theirs_p->find(key);
                     const bool tomb = quorum::dead_from(mine).has_value();
                     if (it != theirs_p->end() && it->second == mine) {
                       if (tomb)
                         confirm(store::RecordStore::data_key(ex->task.keyspace, key),
                                 ex->task.peer);
                     } else if (it == theirs_p->end() && quorum::all_dead(mine, env_.wall_ms())) {
                       // They hold nothing of a deleted key: nothing can come back from them.
                       confirm(store::RecordStore::data_key(ex->task.keyspace, key), ex->task.peer);
                     } else {
                       out->emplace_back(key, mine);
                     }
                   }
                   one_done();
                 });
    }
    one_done();
  };
  auto left = std::make_shared<size_t>(theirs_p->size() + 1);
  auto merged = [this, ex, left, compare_copies](bool changed) {
    if (changed) {
      ++ex->repaired;
      stats_.add(Counter::kAeKeysRepaired);
    }
    if (--*left == 0) compare_copies();
  };
  for (const auto& [key, record] : *theirs_p) merge_in(ex->task.keyspace, key, record, merged);
  merged(false);
}

void AntiEntropy::push(std::shared_ptr<Exchange> ex,
                       std::vector<std::pair<std::string, quorum::DvvSet>> records) {
  if (stopped_) return;
  if (records.empty()) return fetch_next(ex);
  // At most kPushBytes a message; the rest in the next one.
  wire::AePush req{ex->task.keyspace, {}, {}, view_.epoch()};
  size_t bytes = 0, taken = 0;
  for (; taken < records.size() && (taken == 0 || bytes < kPushBytes); ++taken) {
    bytes += codec::record_size_estimate(records[taken].first, records[taken].second);
    req.keys.push_back(std::move(records[taken].first));
    req.records.push_back(std::move(records[taken].second));
  }
  records.erase(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(taken));
  ex->bytes += bytes;
  peers_.call(ex->task.peer, std::move(req), kCallTimeoutUs,
              [this, ex, rest = std::move(records)](Result<wire::Message> reply) mutable {
                if (stopped_) return;
                auto* r = reply.ok() ? std::get_if<wire::AePushReply>(&reply->body) : nullptr;
                if (!r) return finish(ex, true);
                if (hooks_.saw_epoch) hooks_.saw_epoch(r->epoch, ex->task.peer);
                ex->repaired += r->changed;
                push(ex, std::move(rest));
              });
}

void AntiEntropy::finish(std::shared_ptr<Exchange> ex, bool skipped) {
  exchanging_ = false;
  if (!skipped) stats_.add(Counter::kAeRangesCompared);
  if (repair_.running) {
    ++repair_.done;
    if (skipped) ++repair_.skipped;
    repair_.keys_repaired += ex->repaired;
  }
  // The rate limit: the bytes this exchange moved, spread at bytes_per_sec.
  uint64_t delay = repair_.running ? 0 : options_.interval_us;
  if (options_.bytes_per_sec > 0)
    delay = std::max(delay, ex->bytes * 1'000'000 / options_.bytes_per_sec);
  schedule(delay);
}

void AntiEntropy::merge_in(const std::string& keyspace, const std::string& key,
                           quorum::DvvSet record, std::function<void(bool)> done) {
  store_.update(
      keyspace, key,
      [this, keyspace,
       record = std::move(record)](const quorum::DvvSet* cur) mutable -> Result<quorum::DvvSet> {
        if (!cur) {
          // A tombstone for a key we hold nothing of changes nothing a read
          // sees, and taking it would bring a collected tombstone back
          // (docs/architecture.md, "Tombstones").
          if (quorum::all_dead(record, env_.wall_ms()))
            return Status::Aborted("a tombstone (or expired values) for a key not held");
          return std::move(record);
        }
        quorum::DvvSet next = replica_.merge(keyspace, *cur, record);
        if (next == *cur) return Status::Aborted("unchanged");
        return next;
      },
      [this, done = std::move(done)](Result<store::RecordStore::Record> r) {
        if (!r.ok() && r.status().code() != Code::kAborted) {
          TALLY_LOG(log_, kWarn) << "anti-entropy: merge failed: " << r.status().to_string();
        }
        done(r.ok());
      });
}

// ---- the responder's side ------------------------------------------------------------

void AntiEntropy::handle_compare(const wire::AeCompare& req, Respond respond) {
  if (hooks_.saw_epoch) hooks_.saw_epoch(req.epoch, ring::kNoNode);
  Tree* t = building_ ? nullptr : find_tree(req.keyspace, req.range_start, req.range_end);
  if (!t) {
    return fail(respond,
                Status::Unavailable("no anti-entropy tree for that range of '" + req.keyspace +
                                    "' here (building, or the ring is cut differently)"));
  }
  const int level = static_cast<int>(req.level);
  if (req.hashes.size() != req.indices.size()) {
    return fail(respond, Status::InvalidArgument(
                             "anti-entropy compare: " + std::to_string(req.indices.size()) +
                             " indices but " + std::to_string(req.hashes.size()) + " hashes"));
  }
  wire::AeCompareReply out;
  out.epoch = view_.epoch();
  std::vector<uint32_t> equal;
  for (size_t i = 0; i < req.indices.size(); ++i) {
    const uint64_t index = req.indices[i];
    if (index >= quorum::MerkleTree::nodes_at(level)) {
      return fail(respond,
                  Status::InvalidArgument("anti-entropy compare: node " + std::to_string(index) +
                                          " does not exist at level " + std::to_string(level)));
    }
    out.hashes.push_back(t->tree.hash(level, static_cast<uint32_t>(index)));
    if (out.hashes.back() == req.hashes[i]) equal.push_back(static_cast<uint32_t>(index));
  }
  if (t->replicas.contains(req.from)) confirm_subtrees(req.keyspace, *t, level, equal, req.from);
  respond(std::move(out));
}

void AntiEntropy::handle_fetch(const wire::AeFetch& req, Respond respond) {
  if (hooks_.saw_epoch) hooks_.saw_epoch(req.epoch, ring::kNoNode);
  Tree* t = building_ ? nullptr : find_tree(req.keyspace, req.range_start, req.range_end);
  if (!t) {
    return fail(respond, Status::Unavailable("no anti-entropy tree for that range of '" +
                                             req.keyspace + "' here"));
  }
  auto out = std::make_shared<wire::AeFetchReply>();
  out->epoch = view_.epoch();
  if (req.keys.empty()) {
    // Keys and summaries, from the tree alone.
    for (uint64_t leaf : req.leaves) {
      if (leaf >= quorum::MerkleTree::kLeaves) {
        return fail(respond, Status::InvalidArgument("anti-entropy fetch: leaf " +
                                                     std::to_string(leaf) + " does not exist"));
      }
      for (const auto& [key, summary] : t->tree.leaf_keys(static_cast<uint32_t>(leaf))) {
        out->keys.push_back(key);
        out->summaries.push_back(summary);
      }
    }
    return respond(std::move(*out));
  }
  auto left = std::make_shared<size_t>(req.keys.size() + 1);
  auto one_done = [out, left, respond] {
    if (--*left == 0) respond(std::move(*out));
  };
  for (const std::string& key : req.keys) {
    if (!t->tree.range().contains(ring::key_position(req.keyspace, key))) {
      one_done();
      continue;
    }
    store_.get(req.keyspace, key, [out, key, one_done](Result<std::optional<quorum::DvvSet>> r) {
      if (r.ok() && r->has_value()) {
        out->keys.push_back(key);
        out->records.push_back(std::move(**r));
      }
      one_done();
    });
  }
  one_done();
}

void AntiEntropy::handle_push(wire::AePush& req, Respond respond) {
  if (hooks_.saw_epoch) hooks_.saw_epoch(req.epoch, ring::kNoNode);
  if (!view_.map.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  if (req.keys.size() != req.records.size()) {
    return fail(respond, Status::InvalidArgument(
                             "anti-entropy push: " + std::to_string(req.keys.size()) +
                             " keys but " + std::to_string(req.records.size()) + " records"));
  }
  auto out = std::make_shared<wire::AePushReply>();
  out->epoch = view_.epoch();
  auto left = std::make_shared<size_t>(req.keys.size() + 1);
  auto one_done = [this, out, left, respond](bool changed) {
    if (changed) {
      ++out->changed;
      stats_.add(Counter::kAeKeysRepaired);
    }
    if (--*left == 0) respond(*out);
  };
  for (size_t i = 0; i < req.keys.size(); ++i)
    merge_in(req.keyspace, req.keys[i], std::move(req.records[i]), one_done);
  one_done(false);
}

void AntiEntropy::handle_repair(const wire::RepairRequest& req, Respond respond) {
  if (!req.keyspace.empty() && !view_.map.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  if (req.start && !repair_.running) {
    // Trees not built yet (the node just started, or the ring changed): the
    // repair starts as soon as they are.
    repair_ = RepairProgress{true, 0, 0, 0, 0, env_.now_us(), 0};
    repair_keyspace_ = req.keyspace;
    repair_waiting_ = true;
    if (!exchanging_) {
      if (timer_) env_.cancel_timer(timer_);
      timer_ = 0;
      schedule(0);
    }
  }
  const uint64_t end = repair_.running ? env_.now_us() : repair_.finished_us;
  respond(wire::RepairReply{repair_.running, repair_.total, repair_.done, repair_.skipped,
                            repair_.keys_repaired,
                            repair_.started_us ? (end - repair_.started_us) / 1000 : 0});
}

// ---- tombstones ----------------------------------------------------------------------

void AntiEntropy::confirm(const std::string& dkey, ring::NodeId peer) {
  auto it = tombs_.find(dkey);
  if (it == tombs_.end()) return;
  auto& c = it->second.confirmed;
  if (std::find(c.begin(), c.end(), peer) == c.end()) c.push_back(peer);
}

void AntiEntropy::confirm_subtrees(const std::string& keyspace, const Tree& tree, int level,
                                   const std::vector<uint32_t>& equal, ring::NodeId peer) {
  if (equal.empty() || tombs_.empty()) return;
  std::vector<bool> leaf_equal(quorum::MerkleTree::kLeaves, false);
  for (uint32_t i : equal) {
    auto [first, count] = quorum::MerkleTree::leaves_under(level, i);
    for (uint32_t l = first; l < first + count; ++l) leaf_equal[l] = true;
  }
  for (auto& [dkey, tomb] : tombs_) {
    if (tomb.keyspace != keyspace || !tree.tree.range().contains(tomb.position)) continue;
    if (!leaf_equal[tree.tree.leaf_of(tomb.position)]) continue;
    if (std::find(tomb.confirmed.begin(), tomb.confirmed.end(), peer) == tomb.confirmed.end()) {
      tomb.confirmed.push_back(peer);
    }
  }
}

// A tombstone goes once (1) every other replica of its key was seen, through
// an exchange, holding this very record or nothing of the key, (2) the grace
// period has passed since this node took it, and (3) no member is joining or
// leaving. Never on the timer alone. The dot floor is raised (durably) before
// the erase, so this node never mints one of the tombstone's dots again.
void AntiEntropy::collect() {
  if (tombs_.empty() || movement_in_progress(view_.map)) return;
  const uint64_t now = env_.now_us();
  size_t started = 0;
  for (auto& [dkey, tomb] : tombs_) {
    if (started >= kCollectPerTick) break;
    if (tomb.collecting || now < tomb.since_us || now - tomb.since_us < options_.tombstone_grace_us) continue;
    const meta::Keyspace* ks = view_.map.keyspace(tomb.keyspace);
    if (!ks) continue;
    const auto replicas = view_.replicas_of(*ks, tomb.key);
    if (!replicas.contains(view_.self)) continue;  // not ours to judge (the range moved away)
    bool all = true;
    for (ring::NodeId r : replicas) {
      if (r != view_.self &&
          std::find(tomb.confirmed.begin(), tomb.confirmed.end(), r) == tomb.confirmed.end()) {
        all = false;
        break;
      }
    }
    if (!all) continue;
    tomb.collecting = true;
    ++started;
    const uint64_t summary = tomb.summary;
    replica_.raise_dot_floor(tomb.self_counter, [this, dkey = dkey, summary](Status s) {
      if (!s.ok()) {
        TALLY_LOG(log_, kWarn) << "anti-entropy: cannot raise the dot floor: " << s.to_string();
        if (auto it = tombs_.find(dkey); it != tombs_.end()) it->second.collecting = false;
        return;
      }
      store_.erase_if(
          dkey,
          [this, summary](const quorum::DvvSet* cur) {
            return cur && quorum::all_dead(*cur, env_.wall_ms()) && quorum::summary(*cur) == summary;
          },
          [this, dkey](Result<bool> erased) {
            if (erased.ok() && *erased) {
              stats_.add(Counter::kTombstonesCollected);
              return;  // observe() took it out of tombs_ and the tree
            }
            if (auto it = tombs_.find(dkey); it != tombs_.end()) it->second.collecting = false;
          });
    });
  }
}

}  // namespace tally
