#include "node/disk_recovery.hpp"

#include <algorithm>
#include <cstdio>

namespace tally {

namespace {
std::string seconds(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(us) / 1e6);
  return buf;
}
}  // namespace

DiskRecovery::DiskRecovery(Env& env, Logger log, NodeStats& stats, Hooks hooks,
                           DiskRecoveryOptions options)
    : env_(env), log_(std::move(log)), stats_(stats), hooks_(std::move(hooks)), options_(options) {}

DiskRecovery::~DiskRecovery() {
  *alive_ = false;
  env_.disk().set_failure_listener(nullptr);
  if (timer_) env_.cancel_timer(timer_);
}

void DiskRecovery::start() {
  env_.disk().set_failure_listener([this](const Status& why) { on_failure(why); });
  // A write may have failed before the listener was set.
  if (Status why = env_.disk().write_failure(); !why.ok()) on_failure(why);
}

void DiskRecovery::stop() {
  stopped_ = true;
  if (timer_) env_.cancel_timer(timer_);
  timer_ = 0;
}

void DiskRecovery::when_writable(std::function<void()> fn) {
  if (!failing() && env_.disk().write_failure().ok()) {
    std::weak_ptr<bool> alive = alive_;
    env_.defer([alive, fn = std::move(fn)] {
      if (!alive.expired()) fn();
    });
    return;
  }
  waiting_.push_back(std::move(fn));
}

void DiskRecovery::on_failure(const Status& why) {
  if (failing()) return;
  failure_ = why;
  since_us_ = env_.now_us();
  attempts_ = 0;
  last_attempt_ = Status::Ok();
  pause_us_ = options_.first_retry_us;
  TALLY_LOG(log_, kError) << "store failing: " << why.to_string()
                          << "; writes are refused until the database reopens (retrying by itself)";
  hooks_.failed(why);
  retry_later();
}

void DiskRecovery::retry_later() {
  if (stopped_ || timer_) return;
  timer_ = env_.set_timer(pause_us_, [this] {
    timer_ = 0;
    attempt();
  });
  pause_us_ = std::min(pause_us_ * 2, options_.max_retry_us);
}

void DiskRecovery::attempt() {
  if (stopped_) return;
  ++attempts_;
  std::weak_ptr<bool> alive = alive_;
  env_.disk().reopen([this, alive](Status s) {
    if (alive.expired()) return;
    if (!s.ok()) {
      if (last_attempt_.ok()) {
        TALLY_LOG(log_, kWarn) << "store: cannot reopen the database yet (will keep trying): "
                               << s.to_string();
      } else {
        TALLY_LOG(log_, kDebug) << "store: reopen attempt " << attempts_
                                << " failed: " << s.to_string();
      }
      last_attempt_ = s;
      return retry_later();
    }
    const uint64_t took = env_.now_us() - since_us_;
    TALLY_LOG(log_, kWarn) << "store recovered: the database reopened " << seconds(took)
                           << " after " << failure_.message() << " (" << attempts_
                           << (attempts_ == 1 ? " attempt" : " attempts")
                           << "); writes are taken again";
    failure_ = Status::Ok();
    last_attempt_ = Status::Ok();
    stats_.add(Counter::kStoreRecoveries);
    hooks_.reopened();
    auto waiting = std::move(waiting_);
    waiting_.clear();
    for (auto& fn : waiting) fn();
  });
}

}  // namespace tally
