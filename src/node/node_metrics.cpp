// The metrics door's text (docs/operations.md, "Metrics"): the same figures
// as `status` (node_status.cpp), read from the same rooms, in the Prometheus
// text format. Counters are NodeStats' (kCounters names them once); the rest
// are gauges read at scrape time.
#include "node/metrics_text.hpp"
#include "node/node.hpp"

namespace tally {

namespace {

// Histogram and outcome series of each (operation, R or W) that has seen a
// request; every outcome of those, zeros too, so that rate() has a start.
void request_metrics(MetricsText& m, const RequestStats& rs) {
  m.family("tally_client_requests_total", "counter",
           "client requests this node coordinated, by operation, R (get) or W (put, delete) and "
           "outcome");
  for (size_t op = 0; op < kRequestOpNames.size(); ++op) {
    for (uint8_t q = 1; q <= RequestStats::kMaxQuorum + 1; ++q) {
      const auto& slot = rs.slot(static_cast<RequestOp>(op), q);
      if (slot.latency.count() == 0) continue;
      for (size_t o = 0; o < kRequestOutcomeNames.size(); ++o) {
        m.sample("tally_client_requests_total",
                 {{"op", kRequestOpNames[op]},
                  {"quorum", RequestStats::quorum_label(q)},
                  {"outcome", kRequestOutcomeNames[o]}},
                 slot.outcomes[o]);
      }
    }
  }
  m.family("tally_client_request_duration_seconds", "histogram",
           "latency of client requests this node coordinated, by operation and R (get) or W (put, "
           "delete)");
  for (size_t op = 0; op < kRequestOpNames.size(); ++op) {
    for (uint8_t q = 1; q <= RequestStats::kMaxQuorum + 1; ++q) {
      const auto& slot = rs.slot(static_cast<RequestOp>(op), q);
      if (slot.latency.count() == 0) continue;
      m.histogram("tally_client_request_duration_seconds",
                  {{"op", kRequestOpNames[op]}, {"quorum", RequestStats::quorum_label(q)}},
                  slot.latency);
    }
  }
}

void gauge(MetricsText& m, std::string_view name, std::string_view help, double value) {
  m.family(name, "gauge", help);
  m.sample(name, {}, value);
}

void counter(MetricsText& m, std::string_view name, std::string_view help, uint64_t value) {
  m.family(name, "counter", help);
  m.sample(name, {}, value);
}

}  // namespace

std::string Node::metrics_text() const {
  MetricsText m;
  const ClusterView& view = follower_.view();

  m.family("tally_build_info", "gauge",
           "always 1; the node's id, zone and tally version as labels");
  m.sample("tally_build_info", {{"node", self_.id}, {"zone", self_.zone}, {"version", kVersion}},
           uint64_t{1});
  gauge(m, "tally_uptime_seconds", "seconds since the node started",
        static_cast<double>(env_.now_us() - stats_.started_us()) / 1e6);

  // The event counters, as `status` lists them.
  stats_.for_each([&](const CounterInfo& c, uint64_t value) {
    const std::string name = "tally_" + std::string(c.name) + "_total";
    counter(m, name, c.help, value);
  });
  request_metrics(m, stats_.requests());

  // Failure detector: this node's view of every other member.
  m.family("tally_peer_up", "gauge", "1 while this node's failure detector holds the peer up");
  for (const auto& mem : view.map.members) {
    if (mem.id == view.self || mem.state == meta::NodeState::kRemoved) continue;
    m.sample("tally_peer_up", {{"peer", mem.name}}, uint64_t{peers_.is_up(mem.id) ? 1u : 0u});
  }
  m.family("tally_peer_phi", "gauge",
           "the phi accrual failure detector's suspicion of the peer (down at 8)");
  for (const auto& mem : view.map.members) {
    if (mem.id == view.self || mem.state == meta::NodeState::kRemoved) continue;
    m.sample("tally_peer_phi", {{"peer", mem.name}}, peers_.phi(mem.id));
  }

  // Connections and bytes.
  m.family("tally_connections", "gauge", "connections accepted and open, by door");
  m.sample("tally_connections", {{"door", "wire"}}, uint64_t{peers_.accepted_connections()});
  if (resp_) m.sample("tally_connections", {{"door", "resp"}}, uint64_t{resp_->connections()});
  if (metrics_)
    m.sample("tally_connections", {{"door", "metrics"}}, uint64_t{metrics_->connections()});
  counter(m, "tally_connections_refused_total",
          "connections closed at once: over limits.max_connections", env_.connections_refused());
  counter(m, "tally_network_received_bytes_total", "bytes read from every connection",
          env_.bytes_received());
  counter(m, "tally_network_sent_bytes_total", "bytes written to every connection",
          env_.bytes_sent());

  // The store and its record cache.
  const auto& st = store_.stats();
  counter(m, "tally_store_records_written_total", "records written to the store", st.writes);
  counter(m, "tally_store_write_batches_total",
          "write batches (one fsync each under durability fsync)", st.batches);
  counter(m, "tally_store_reads_total", "records read from the store", st.reads);
  gauge(m, "tally_store_failing", "1 while writes are refused after a disk error",
        recovery_.failing() ? 1 : 0);
  const auto& cache = store_.cache();
  gauge(m, "tally_record_cache_entries", "records in the cache of recently written records",
        static_cast<double>(cache.entries()));
  gauge(m, "tally_record_cache_bytes", "bytes held by the record cache",
        static_cast<double>(cache.bytes()));
  gauge(m, "tally_record_cache_capacity_bytes",
        "the record cache's budget (storage.record_cache_mb)",
        static_cast<double>(config_.record_cache_bytes));
  counter(m, "tally_record_cache_hits_total", "reads answered from the record cache", cache.hits());
  counter(m, "tally_record_cache_misses_total", "reads the cache could not answer (the key filter or the database did)", cache.misses());
  const auto& filter = store_.key_filter();
  counter(m, "tally_key_filter_reads_total",
          "reads of keys never written, answered by the key filter without the database", st.filtered_reads);
  gauge(m, "tally_key_filter_bytes", "memory of the filter of keys on disk (storage.key_filter_mb)",
        static_cast<double>(filter.bytes()));
  gauge(m, "tally_key_filter_ready", "1 once the key filter has scanned the disk and answers",
        filter.usable() ? 1 : 0);

  // LevelDB's own figures.
  if (auto db = env_.disk().properties()) {
    auto per_level = [&](std::string_view name, std::string_view type, std::string_view help,
                         auto value) {
      m.family(name, type, help);
      for (size_t i = 0; i < db->levels.size(); ++i) {
        const std::string level = std::to_string(i);
        m.sample(name, {{"level", level}}, value(db->levels[i]));
      }
    };
    using L = store::DiskProperties::Level;
    per_level("tally_leveldb_level_files", "gauge",
              "table files per LevelDB level; writes slow down at 8 in level 0 and stop at 12",
              [](const L& l) { return l.files; });
    per_level("tally_leveldb_level_bytes", "gauge", "bytes of table files per LevelDB level",
              [](const L& l) { return l.bytes; });
    per_level("tally_leveldb_compaction_seconds_total", "counter",
              "time compactions into the level took (LevelDB counts whole seconds)",
              [](const L& l) { return l.compaction_seconds; });
    per_level("tally_leveldb_compaction_read_bytes_total", "counter",
              "bytes compactions into the level read (LevelDB counts whole MiB)",
              [](const L& l) { return l.compaction_read_mib << 20; });
    per_level("tally_leveldb_compaction_written_bytes_total", "counter",
              "bytes compactions into the level wrote (LevelDB counts whole MiB)",
              [](const L& l) { return l.compaction_written_mib << 20; });
    gauge(m, "tally_leveldb_memory_bytes", "LevelDB's memtables and cached tables, approximately",
          static_cast<double>(db->memory_bytes));
  }

  // The metadata group (Raft) and the ring.
  gauge(m, "tally_meta_term", "the metadata group's Raft term as this node sees it",
        static_cast<double>(meta_.term()));
  m.family("tally_meta_role", "gauge", "1 for this node's role in the metadata group");
  m.sample("tally_meta_role", {{"role", meta_.role_name()}}, uint64_t{1});
  gauge(m, "tally_meta_is_leader", "1 while this node leads the metadata group",
        meta_.is_leader() ? 1 : 0);
  gauge(m, "tally_meta_commit_index", "the metadata log's commit index",
        static_cast<double>(meta_.commit_index()));
  gauge(m, "tally_meta_applied_index", "the metadata log's last entry applied here",
        static_cast<double>(meta_.applied_index()));
  counter(m, "tally_meta_leader_changes_total", "times this node saw the metadata leader change",
          meta_.leader_changes());
  gauge(m, "tally_ring_epoch", "the cluster map's epoch (bumped by every ring change)",
        static_cast<double>(view.epoch()));
  gauge(m, "tally_ring_nodes", "nodes on the ring", static_cast<double>(view.ring.node_count()));
  gauge(m, "tally_ring_cleaned_epoch", "the ring epoch whose moved ranges this node has dropped",
        static_cast<double>(cleanup_.cleaned_ring_epoch()));

  // Hints and anti-entropy.
  const auto& hints = replica_.hints();
  gauge(m, "tally_hints_pending", "hinted writes this node keeps for other nodes",
        static_cast<double>(hints.count()));
  counter(m, "tally_hints_refused_total", "hints refused: this node already kept max_hints",
          hints.refused());
  gauge(m, "tally_anti_entropy_trees", "Merkle trees (one per keyspace and token range) held",
        static_cast<double>(anti_entropy_.trees()));
  gauge(m, "tally_anti_entropy_keys", "keys in the Merkle trees",
        static_cast<double>(anti_entropy_.keys_in_trees()));
  gauge(m, "tally_anti_entropy_building", "1 while the Merkle trees are built from the store",
        anti_entropy_.building() ? 1 : 0);
  gauge(m, "tally_tombstones_held", "tombstones waiting for every replica to hold them",
        static_cast<double>(anti_entropy_.tombstones_held()));
  return m.take();
}

}  // namespace tally
