#include <unistd.h>

#include <cinttypes>

#include "bench/driver.hpp"

namespace tally::bench {

ProgressLine::ProgressLine(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

void ProgressLine::update(std::string_view config, const Progress& p, double clock_s,
                          std::string_view note, bool force) {
  const auto now = Clock::now();
  if (config != last_config_) {
    last_config_ = std::string(config);
    last_clock_s_ = clock_s;
    last_completed_ = p.completed;
    rate_ = 0;
  } else if (!force && now - last_print_ < std::chrono::seconds(1)) {
    return;
  } else if (clock_s > last_clock_s_ && p.completed >= last_completed_) {
    rate_ = static_cast<double>(p.completed - last_completed_) / (clock_s - last_clock_s_);
    last_clock_s_ = clock_s;
    last_completed_ = p.completed;
  }
  last_print_ = now;

  char time[64];
  if (p.total_s > 0) {
    std::snprintf(time, sizeof time, "%.1f/%.1fs", p.elapsed_s, p.total_s);
  } else {
    std::snprintf(time, sizeof time, "%.1fs, %" PRIu64 " keys", p.elapsed_s, p.keys_loaded);
  }
  char line[512];
  std::snprintf(
      line, sizeof line, "%.*s  %.*s %s  %.0f ops/s  p99 %.3f ms  errors %" PRIu64 "%s%.*s",
      static_cast<int>(config.size()), config.data(), static_cast<int>(phase_name(p.phase).size()),
      phase_name(p.phase).data(), time, rate_, static_cast<double>(p.p99_ns) / 1e6, p.errors,
      note.empty() ? "" : "  ", static_cast<int>(note.size()), note.data());
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", line);
    open_ = true;
  } else {
    std::fprintf(out_, "%s\n", line);
  }
  std::fflush(out_);
}

void ProgressLine::done() {
  if (open_) std::fputc('\n', out_);
  open_ = false;
  last_config_.clear();
  std::fflush(out_);
}

void ProgressLine::note(std::string_view text) {
  done();
  std::fprintf(out_, "tally-bench: %.*s\n", static_cast<int>(text.size()), text.data());
  std::fflush(out_);
}

}  // namespace tally::bench
