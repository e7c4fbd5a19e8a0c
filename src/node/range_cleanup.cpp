#include "node/range_cleanup.hpp"

#include <memory>
#include <utility>
#include <vector>

namespace tally {

RangeCleanup::RangeCleanup(Env& env, Logger log, const ClusterView& view, store::RecordStore& store,
                           ReplicaService& replica, NodeStats& stats, CleanupOptions options)
    : env_(env),
      log_(std::move(log)),
      view_(view),
      store_(store),
      replica_(replica),
      stats_(stats),
      options_(options) {}

void RangeCleanup::start() {
  stopped_ = false;
  schedule();
}

void RangeCleanup::stop() {
  stopped_ = true;
  if (timer_) env_.cancel_timer(timer_);
  timer_ = 0;
}

void RangeCleanup::schedule() {
  if (!stopped_ && !timer_) timer_ = env_.set_timer(options_.check_interval_us, [this] { tick(); });
}

void RangeCleanup::tick() {
  timer_ = 0;
  if (stopped_) return;
  if (!cleaning_) maybe_clean();
  if (!cleaning_) schedule();
}

bool RangeCleanup::owns(const std::string& keyspace, const std::string& key) const {
  const meta::Keyspace* ks = view_.map.keyspace(keyspace);
  if (!ks) return true;
  return view_.replica_of(view_.self, *ks, key);
}

bool RangeCleanup::may_clean() const {
  return !stopped_ && view_.self != ring::kNoNode && !view_.moving() && !view_.behind() &&
         view_.map.ring_epoch == cleaning_ && replica_.ready();
}

void RangeCleanup::maybe_clean() {
  if (view_.self == ring::kNoNode || view_.epoch() == 0 || !replica_.ready()) return;
  const uint64_t now = env_.now_us();
  if (view_.moving() || view_.behind() || view_.map.ring_epoch != watched_) {
    watched_ = view_.moving() ? 0 : view_.map.ring_epoch;
    still_since_us_ = now;
    return;
  }
  if (cleaned_ == watched_ || now - still_since_us_ < options_.grace_us) return;
  cleaning_ = watched_;
  cursor_.clear();
  epoch_taken_ = false;
  TALLY_LOG(log_, kInfo) << "dropping the copies of ranges this node no longer owns (ring of epoch " << cleaning_
                         << ")";
  step();
}

void RangeCleanup::take_epoch() {
  if (epoch_taken_) return;
  ReplicaService::Ranges given_away;
  for (const auto& ks : view_.map.keyspaces) {
    std::vector<ring::TokenRange> ranges;
    for (const auto& rr : view_.ring.replica_ranges(view_.replicas_for(ks))) {
      if (!rr.replicas.contains(view_.self)) ranges.push_back(rr.range);
    }
    if (!ranges.empty()) given_away.emplace_back(ks.name, std::move(ranges));
  }
  // In memory at once; on disk in the store's batch order, so before any
  // drop queued after it (record_store.hpp).
  Status s = replica_.new_mint_epoch(given_away, [this](Status durable) {
    if (!durable.ok()) {
      TALLY_LOG(log_, kWarn) << "cannot store the new mint epoch: " << durable.to_string();
    }
  });
  if (!s.ok()) {
    TALLY_LOG(log_, kWarn) << "keeping the records that hold this node's dots: " << s.to_string();
    return;
  }
  epoch_taken_ = true;
}

void RangeCleanup::step() {
  auto abandon = [this] {
    cleaning_ = 0;  // the ring moved (or we stop): start over once it is still again
    schedule();
  };
  if (!may_clean()) return abandon();
  std::string start = cursor_.empty() ? store::RecordStore::data_begin() : cursor_ + std::string(1, '\0');
  store_.scan(std::move(start), store::RecordStore::data_end(), options_.batch, [this, abandon](auto r) {
    if (!r.ok()) {
      TALLY_LOG(log_, kWarn) << "cleanup scan failed: " << r.status().to_string() << "; trying later";
      return abandon();
    }
    if (!may_clean()) return abandon();
    const bool last = r->size() < options_.batch;
    auto left = std::make_shared<size_t>(1);
    auto next = [this, left, last, abandon] {
      if (--*left > 0) return;
      if (!may_clean()) return abandon();
      if (last) {
        cleaned_ = cleaning_;
        cleaning_ = 0;
        TALLY_LOG(log_, kInfo) << "dropped the copies of ranges this node no longer owns (ring of epoch "
                               << cleaned_ << ")";
        schedule();
        return;
      }
      // The next batch in a later turn: requests go first.
      env_.defer([this] { step(); });
    };
    for (auto& [dkey, record] : *r) {
      cursor_ = dkey;
      std::string_view ks, k;
      if (!store::RecordStore::parse_data_key(dkey, ks, k)) continue;
      std::string keyspace(ks), key(k);
      if (owns(keyspace, key)) continue;
      if (record.clock.max_of_node(view_.self) > 0) take_epoch();
      ++*left;
      // Checked again in turn with the key's updates: a write that lands
      // first, or a ring that moved meanwhile, keeps it; so does a dot of
      // ours that arrived after the scan when no new epoch was taken.
      store_.erase_if(
          dkey,
          [this, keyspace, key](const quorum::DvvSet* cur) {
            return may_clean() && !owns(keyspace, key) && (epoch_taken_ || !cur || cur->clock.max_of_node(view_.self) == 0);
          },
          [this, next](Result<bool> erased) {
            if (erased.ok() && *erased) stats_.add(Counter::kDropped);
            next();
          });
    }
    next();
  });
}

}  // namespace tally
