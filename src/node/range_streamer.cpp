#include "node/range_streamer.hpp"

#include <algorithm>
#include <memory>

#include "codec/record_codec.hpp"
#include "ring/position.hpp"

namespace tally {

namespace {

bool in_any(const std::vector<wire::StreamRange>& ranges, uint64_t position) {
  for (const auto& r : ranges) {
    if (ring::TokenRange{r.start, r.end}.contains(position)) return true;
  }
  return false;
}

constexpr uint32_t kMinBatchBytes = 64 << 10;
// A reply carries at most this plus one record (a 4 MiB value at most): well
// inside a 16 MiB frame.
constexpr uint32_t kMaxBatchBytes = 8 << 20;

}  // namespace

RangeStreamer::RangeStreamer(Env& env, Logger log, const ClusterView& view, store::RecordStore& store,
                             ReplicaService& replica, PeerCalls& peers, NodeStats& stats, RateLimiter& limiter,
                             Propose propose, SawEpoch saw_epoch, StreamOptions options)
    : env_(env),
      log_(std::move(log)),
      view_(view),
      store_(store),
      replica_(replica),
      peers_(peers),
      stats_(stats),
      limiter_(limiter),
      propose_(std::move(propose)),
      saw_epoch_(std::move(saw_epoch)),
      options_(options) {}

void RangeStreamer::start() { schedule(options_.check_interval_us); }

void RangeStreamer::stop() {
  stopped_ = true;
  if (timer_) env_.cancel_timer(timer_);
  timer_ = 0;
}

void RangeStreamer::schedule(uint64_t delay_us) {
  if (stopped_ || timer_) return;
  timer_ = env_.set_timer(delay_us, [this] {
    timer_ = 0;
    tick();
  });
}

// ---- receiving -----------------------------------------------------------------

std::optional<RangeStreamer::Session> RangeStreamer::plan() {
  const auto& mv = view_.map.movement;
  if (!mv || view_.self == ring::kNoNode) return std::nullopt;
  if (mv->epoch != known_movement_) {
    known_movement_ = mv->epoch;
    reported_done_.clear();
    survivor_mode_.clear();
    streamed_from_.clear();
  }
  const uint64_t now = env_.now_us();
  auto usable = [&](ring::NodeId n) {
    if (n == view_.self || !peers_.is_up(n)) return false;
    auto it = resting_.find(n);
    return it == resting_.end() || it->second <= now;
  };
  std::optional<Session> s;
  std::optional<std::string> lowest;  // the lowest cursor among the session's transfers
  for (uint32_t i = 0; i < mv->transfers.size(); ++i) {
    const meta::Transfer& t = mv->transfers[i];
    if (t.to != view_.self || t.state == meta::TransferState::kDone || reported_done_.count(i)) continue;
    if (!view_.map.keyspace(t.keyspace) || t.sources.empty()) continue;  // dropped: the map marks it done
    // The replica it replaces holds every write acknowledged in the range
    // (W of the old list, and if not it, then all the others): streaming
    // from it alone keeps R + W > N. When it is down, every survivor is
    // streamed (one of them holds each such write), and the transfer stays
    // in that mode.
    bool survivors = survivor_mode_.count(i) > 0;
    if (!survivors && !usable(t.sources[0])) {
      survivor_mode_.insert(i);
      survivors = true;
    }
    ring::NodeId source = ring::kNoNode;
    if (!survivors) {
      source = t.sources[0];
    } else {
      const auto& done = streamed_from_[i];
      for (size_t k = 1; k < t.sources.size(); ++k) {
        if (!done.count(t.sources[k]) && usable(t.sources[k])) {
          source = t.sources[k];
          break;
        }
      }
    }
    if (source == ring::kNoNode) continue;
    if (!s) {
      s = Session{};
      s->movement = mv->epoch;
      s->keyspace = t.keyspace;
      s->source = source;
      s->survivors = survivors;
    } else if (t.keyspace != s->keyspace || source != s->source || survivors != s->survivors) {
      continue;
    }
    s->transfers.push_back(i);
    s->ranges.push_back(wire::StreamRange{t.range.start, t.range.end});
    // One scan serves every range of the session: it starts from the range
    // least far along (a key received twice merges into itself). A survivor
    // is streamed from the start: the cursor on record is the replaced one's.
    if (survivors || t.state == meta::TransferState::kPending || t.cursor.empty()) {
      s->from_start = true;
    } else if (!lowest || t.cursor < *lowest) {
      lowest = t.cursor;
    }
  }
  if (s && !s->from_start && lowest) s->cursor = *lowest;
  if (s && s->from_start) s->cursor.clear();
  return s;
}

std::vector<uint32_t> RangeStreamer::completed() const {
  std::vector<uint32_t> out;
  const auto& mv = view_.map.movement;
  for (uint32_t i : session_->transfers) {
    if (!session_->survivors) {
      out.push_back(i);
      continue;
    }
    if (!mv || i >= mv->transfers.size()) continue;
    const auto& sources = mv->transfers[i].sources;
    const auto it = streamed_from_.find(i);
    bool all = true;
    for (size_t k = 1; k < sources.size(); ++k) all = all && it != streamed_from_.end() && it->second.count(sources[k]);
    if (all) out.push_back(i);
  }
  return out;
}

void RangeStreamer::tick() {
  if (stopped_) return;
  if (session_) return;  // its pulls and reports drive it
  session_ = plan();
  if (!session_) return schedule(options_.check_interval_us);
  TALLY_LOG(log_, kInfo) << "receiving " << session_->ranges.size() << " ranges of keyspace '"
                         << session_->keyspace << "' from " << peers_.name_of(session_->source)
                         << (session_->from_start ? "" : " (resuming)") << " for the ring movement of epoch "
                         << session_->movement;
  if (last_report_us_ == 0) last_report_us_ = env_.now_us();
  pull();
}

void RangeStreamer::give_up(const std::string& why) {
  if (!session_) return;
  TALLY_LOG(log_, kWarn) << "stream of keyspace '" << session_->keyspace << "' from "
                         << peers_.name_of(session_->source) << " stopped: " << why << "; trying again";
  resting_[session_->source] = env_.now_us() + options_.source_backoff_us;
  session_.reset();
  schedule(options_.check_interval_us);
}

void RangeStreamer::pull() {
  const auto& mv = view_.map.movement;
  if (stopped_ || !session_) return;
  if (!mv || mv->epoch != session_->movement) {
    // Completed or called off while we were at it.
    session_.reset();
    return schedule(0);
  }
  wire::StreamRequest req;
  req.movement = session_->movement;
  req.keyspace = session_->keyspace;
  req.ranges = session_->ranges;
  req.after = session_->cursor;
  req.from_start = session_->from_start;
  req.max_bytes = options_.batch_bytes;
  req.epoch = view_.epoch();
  const uint64_t movement = session_->movement;
  peers_.call(session_->source, std::move(req), options_.pull_timeout_us,
              [this, movement](Result<wire::Message> r) {
                if (stopped_ || !session_ || session_->movement != movement) return;
                if (!r.ok()) return give_up(r.status().message());
                if (auto* e = std::get_if<wire::ErrorReply>(&r->body)) return give_up(e->message);
                auto* reply = std::get_if<wire::StreamReply>(&r->body);
                if (!reply) return give_up("unexpected reply to a stream pull");
                received(std::move(*reply));
              });
}

void RangeStreamer::received(wire::StreamReply reply) {
  saw_epoch_(reply.epoch, session_->source);
  struct Batch {
    size_t left = 1;
    Status failed;
    uint64_t bytes = 0;
    size_t count = 0;
  };
  auto batch = std::make_shared<Batch>();
  batch->count = reply.records.size();
  const uint64_t movement = session_->movement;
  auto finish = [this, batch, movement, cursor = std::move(reply.cursor), done = reply.done] {
    if (stopped_ || !session_ || session_->movement != movement) return;
    if (!batch->failed.ok()) return give_up("cannot store what it sent: " + batch->failed.message());
    // Everything up to the cursor is durable here: the stream resumes after it.
    if (!cursor.empty()) {
      session_->cursor = cursor;
      session_->from_start = false;
    }
    stats_.add(Counter::kStreamedIn, batch->count);
    stats_.add(Counter::kStreamedInBytes, batch->bytes);
    unreported_keys_ += batch->count;
    unreported_bytes_ += batch->bytes;
    const uint64_t now = env_.now_us();
    if (done) {
      if (session_->survivors) {
        for (uint32_t i : session_->transfers) streamed_from_[i].insert(session_->source);
      }
      session_->reporting_done = true;
      return report(true);
    }
    if (now - last_report_us_ >= options_.report_interval_us) report(false);
    const uint64_t wait = limiter_.take(batch->bytes, now);
    if (wait == 0) {
      env_.defer([this, movement] {
        if (session_ && session_->movement == movement) pull();
      });
    } else {
      env_.set_timer(wait, [this, movement] {
        if (!stopped_ && session_ && session_->movement == movement) pull();
      });
    }
  };
  const std::string& keyspace = session_->keyspace;
  for (auto& rec : reply.records) {
    batch->bytes += codec::record_size_estimate(rec.key, rec.record);
    ++batch->left;
    replica_.apply_locally(keyspace, rec.key, std::move(rec.record), [batch, finish](Status s) {
      if (!s.ok()) batch->failed = s;
      if (--batch->left == 0) finish();
    });
  }
  if (--batch->left == 0) finish();
}

void RangeStreamer::report(bool done) {
  const meta::Member* me = view_.map.member(view_.self);
  if (!session_ || !me) return;
  wire::MetaChangeRequest req;
  req.op = wire::MetaOp::kStreamUpdate;
  req.node = me->name;
  req.stream_movement = session_->movement;
  // Done: the transfers now wholly in. Progress: a cursor only for streams
  // from the replaced replica (a survivor's cursor would skip the others').
  std::vector<uint32_t> listed = done ? completed() : session_->survivors ? std::vector<uint32_t>() : session_->transfers;
  for (uint32_t i : listed) req.stream_transfers.push_back(i);
  req.stream_cursor = session_->cursor;
  req.stream_done = done;
  req.stream_keys = unreported_keys_;
  req.stream_bytes = unreported_bytes_;
  unreported_keys_ = unreported_bytes_ = 0;
  last_report_us_ = env_.now_us();
  const uint64_t movement = session_->movement;
  propose_(std::move(req), [this, done, movement, listed](wire::Body reply) {
    if (stopped_ || !done || !session_ || session_->movement != movement || !session_->reporting_done) return;
    if (auto* e = std::get_if<wire::ErrorReply>(&reply)) {
      const auto& mv = view_.map.movement;
      if (mv && mv->epoch == movement) {
        // The transfers are in but not yet on record: say it again.
        TALLY_LOG(log_, kWarn) << "cannot report the stream of keyspace '" << session_->keyspace
                               << "' done: " << e->message << "; retrying";
        env_.set_timer(options_.check_interval_us, [this, movement] {
          if (!stopped_ && session_ && session_->movement == movement && session_->reporting_done) report(true);
        });
        return;
      }
    }
    if (movement == known_movement_) reported_done_.insert(listed.begin(), listed.end());
    TALLY_LOG(log_, kInfo) << "received " << session_->ranges.size() << " ranges of keyspace '"
                           << session_->keyspace << "' from " << peers_.name_of(session_->source)
                           << (session_->survivors ? " (a survivor of a replica that is down)" : "");
    session_.reset();
    schedule(0);
  });
}

// ---- sending -------------------------------------------------------------------

void RangeStreamer::handle_pull(const wire::StreamRequest& req, Respond respond) {
  if (req.epoch > view_.epoch()) saw_epoch_(req.epoch, ring::kNoNode);
  const auto& mv = view_.map.movement;
  if (!mv || mv->epoch != req.movement) {
    if (view_.epoch() < req.movement) {
      return fail(respond, Status::Unavailable("this node has not seen the ring movement of epoch " +
                                               std::to_string(req.movement) + " yet (it is at epoch " +
                                               std::to_string(view_.epoch()) + "); retry"));
    }
    return fail(respond, Status::InvalidArgument("no ring movement of epoch " + std::to_string(req.movement) +
                                                 " is in progress (it completed or was called off)"));
  }
  if (!view_.map.keyspace(req.keyspace)) {
    return fail(respond, Status::UnknownKeyspace("keyspace '" + req.keyspace + "' does not exist"));
  }
  if (req.ranges.empty()) return fail(respond, Status::InvalidArgument("a stream pull must name ranges"));
  const std::string prefix = store::RecordStore::data_key(req.keyspace, "");
  std::string start = req.from_start ? prefix : prefix + req.after + std::string(1, '\0');
  // The keys of the keyspace are those with its prefix; keyspace names are
  // [a-z0-9_-], so the prefix's last byte has a successor.
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  const uint32_t max_bytes = std::clamp(req.max_bytes, kMinBatchBytes, kMaxBatchBytes);
  store_.scan(std::move(start), std::move(end), options_.scan_keys,
              [this, respond, req, prefix_len = prefix.size(), max_bytes](auto r) {
                if (!r.ok()) return fail(respond, r.status());
                wire::StreamReply out;
                out.epoch = view_.epoch();
                uint64_t bytes = 0;
                bool cut = false;
                for (auto& [dkey, record] : *r) {
                  std::string key = dkey.substr(prefix_len);
                  ++out.scanned;
                  const bool wanted = in_any(req.ranges, ring::key_position(req.keyspace, key));
                  out.cursor = key;
                  if (!wanted) continue;
                  bytes += codec::record_size_estimate(key, record);
                  out.records.push_back(wire::StreamedRecord{std::move(key), std::move(record)});
                  if (bytes >= max_bytes) {
                    cut = true;
                    break;
                  }
                }
                out.done = !cut && r->size() < options_.scan_keys;
                stats_.add(Counter::kStreamedOut, out.records.size());
                respond(std::move(out));
              });
}

}  // namespace tally
