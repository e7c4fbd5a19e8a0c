// The answer to `status` (and, through it, RESP INFO): what this node is,
// how it sees the cluster, and its counters.
#include <cstdio>

#include "node/node.hpp"

namespace tally {

void Node::status(const Respond& respond) const {
  const ClusterView& view = follower_.view();
  const auto& st = store_.stats();
  wire::StatusReply r;
  auto add = [&](std::string_view k, std::string v) { r.fields.emplace_back(std::string(k), std::move(v)); };
  add("node", self_.id);
  add("version", std::string(kVersion));
  add("listen", self_.listen.to_string());
  add("zone", self_.zone);
  add("uptime_ms", std::to_string((env_.now_us() - stats_.started_us()) / 1000));
  add("durability", std::string(durability_name(config_.durability)));
  if (recovery_.failing()) {
    // What an operator needs: since when, why, and whether reopening works yet.
    std::string failing = "failing for " + std::to_string((env_.now_us() - recovery_.failing_since_us()) / 1000) +
                          " ms, writes refused: " + recovery_.failure().message();
    if (!recovery_.last_attempt().ok()) {
      failing += "; reopen attempt " + std::to_string(recovery_.attempts()) + ": " +
                 recovery_.last_attempt().message();
    }
    add("store", failing);
  } else {
    add("store", store_.health().ok() ? "ok" : store_.health().to_string());
  }
  add("store_writes", std::to_string(st.writes));
  add("store_batches", std::to_string(st.batches));
  const auto& cache = store_.cache();
  add("record_cache", std::to_string(cache.entries()) + " records, " + std::to_string(cache.bytes() >> 20) + " of " +
                          std::to_string(config_.record_cache_bytes >> 20) + " MiB, " + std::to_string(cache.hits()) +
                          " hits, " + std::to_string(cache.misses()) + " misses");
  const auto& filter = store_.key_filter();
  add("key_filter", config_.key_filter_bytes == 0 ? std::string("off")
                    : filter.over_budget()
                        ? "over its " + std::to_string(config_.key_filter_bytes >> 20) +
                              " MiB (storage.key_filter_mb): absent keys are read from disk"
                        : std::string(filter.usable() ? "ready" : "scanning the disk") + ", " +
                              std::to_string(filter.keys()) + " keys, " + std::to_string(filter.bytes() >> 10) +
                              " KiB, " + std::to_string(st.filtered_reads) + " reads answered");
  // Whether a put sent here now is taken, and if not why, in the words its
  // refusal uses: the two things a starting node waits for (tests wait on
  // this line, scripts may too).
  add("serving", view.epoch() == 0     ? std::string("no: ") + follower_.why_no_map()
                 : !replica_.ready() ? "no: " + replica_.why_not_ready()
                                     : std::string("yes"));
  add("node_id", std::to_string(view.self));
  add("ring_epoch", std::to_string(view.epoch()));
  add("meta_role", meta_.role_name());
  add("meta_term", std::to_string(meta_.term()));
  add("meta_leader", meta_.leader() ? peers_.name_of(static_cast<ring::NodeId>(meta_.leader())) : "unknown");
  add("meta_commit", std::to_string(meta_.commit_index()));
  add("meta_applied", std::to_string(meta_.applied_index()));
  add("ring", std::to_string(view.ring.node_count()) + " nodes, " + std::to_string(view.ring.token_count()) +
                  " tokens");
  std::string peers;
  for (const auto& m : view.map.members) {
    if (m.id == view.self || m.state == meta::NodeState::kRemoved) continue;
    peers += (peers.empty() ? "" : " ") + m.name + (peers_.is_up(m.id) ? ":up" : ":down");
  }
  add("peers", peers);
  std::string keyspaces;
  for (const auto& k : view.map.keyspaces) {
    keyspaces += (keyspaces.empty() ? "" : " ") + k.name + "(N=" + std::to_string(view.replicas_for(k)) +
                 ",R=" + std::to_string(k.r) + ",W=" + std::to_string(k.w) +
                 "," + std::string(meta::mode_name(k.mode)) + ")";
  }
  add("keyspaces", keyspaces);
  const auto& hints = replica_.hints();
  add("hints_pending", std::to_string(hints.count()));
  add("hints_refused", std::to_string(hints.refused()));
  add("tombstones_held", std::to_string(anti_entropy_.tombstones_held()));
  add("anti_entropy", anti_entropy_.building() ? "building trees"
                                               : std::to_string(anti_entropy_.trees()) + " trees, " +
                                                     std::to_string(anti_entropy_.keys_in_trees()) + " keys");
  add("dot_floor", std::to_string(replica_.dot_floor()));
  add("mint_epoch", std::to_string(replica_.mint_epochs().last));
  add("cleaned_ring_epoch", std::to_string(cleanup_.cleaned_ring_epoch()));
  add("connections", std::to_string(peers_.accepted_connections()));
  add("connections_refused", std::to_string(env_.connections_refused()));
  if (resp_) {
    add("resp_listen", self_.resp_listen->to_string());
    add("resp_connections", std::to_string(resp_->connections()));
  }
  if (fault_.silent || fault_.delay_ms) {
    add("fault", fault_.silent ? "silent" : "delay " + std::to_string(fault_.delay_ms) + " ms");
  }
  stats_.for_each([&](const CounterInfo& c, uint64_t value) { add(c.name, std::to_string(value)); });
  // Per operation, from the histograms /metrics serves: how many, how they
  // ended, and the bucket bounds that hold the median and the 99th percentile.
  for (size_t op = 0; op < kRequestOpNames.size(); ++op) {
    const LatencyHistogram h = stats_.requests().merged(static_cast<RequestOp>(op));
    if (h.count() == 0) continue;
    auto bound = [](uint64_t us) {
      if (us == UINT64_MAX) return std::string("over 4.2 s");
      char b[32];
      std::snprintf(b, sizeof b, "<= %.3g ms", static_cast<double>(us) / 1000.0);
      return std::string(b);
    };
    std::string outcomes;
    for (size_t o = 0; o < kRequestOutcomeNames.size(); ++o) {
      uint64_t n = 0;
      for (uint8_t q = 1; q <= RequestStats::kMaxQuorum + 1; ++q) {
        n += stats_.requests().slot(static_cast<RequestOp>(op), q).outcomes[o];
      }
      if (n) outcomes += ", " + std::to_string(n) + " " + std::string(kRequestOutcomeNames[o]);
    }
    add("latency_" + std::string(kRequestOpNames[op]), std::to_string(h.count()) + " requests" + outcomes + "; p50 " +
                                                  bound(h.quantile_bound_us(0.5)) + ", p99 " +
                                                  bound(h.quantile_bound_us(0.99)));
  }
  add("bytes_received", std::to_string(env_.bytes_received()));
  add("bytes_sent", std::to_string(env_.bytes_sent()));
  add("meta_leader_changes", std::to_string(meta_.leader_changes()));
  if (metrics_) {
    add("metrics_listen", self_.metrics_listen->to_string());
    add("metrics_connections", std::to_string(metrics_->connections()));
  }
  add("records_written", std::to_string(st.writes));
  add("write_batches", std::to_string(st.batches));
  add("reads", std::to_string(st.reads));
  respond(std::move(r));
}

}  // namespace tally
