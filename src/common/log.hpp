// The one logger of tally.
//
// A Logger is an object (no global state): the node owns one and hands it to
// what it builds. Where a line goes is the sink's business: the production
// sink writes timestamped lines to stderr, the simulator's sink stamps them with
// virtual time and folds them into the run's trace.
//
//   TALLY_LOG(log, kWarn) << "closing connection " << id << ": " << why;
//
// The stream expression is not evaluated when the level is disabled.
#pragma once

#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace tally {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

std::string_view log_level_name(LogLevel level);
// Parses "debug", "info", "warn", "error"; nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

class Logger {
 public:
  using Sink = std::function<void(LogLevel, std::string_view component, std::string_view line)>;

  // A logger that writes "2026-11-29T08:07:07.123Z INFO  node: ..." to stderr.
  explicit Logger(std::string component = "tally", LogLevel min_level = LogLevel::kInfo);
  Logger(std::string component, LogLevel min_level, Sink sink);

  bool enabled(LogLevel level) const { return level >= min_level_; }
  void write(LogLevel level, std::string_view line) const;
  void set_min_level(LogLevel level) { min_level_ = level; }

  // A logger with the same sink and level for a sub-component ("node.n1").
  Logger child(std::string_view sub) const;

  static Sink stderr_sink();

 private:
  std::string component_;
  LogLevel min_level_;
  Sink sink_;
};

// Collects one line and hands it to the logger when destroyed.
class LogLine {
 public:
  LogLine(const Logger& logger, LogLevel level) : logger_(logger), level_(level) {}
  ~LogLine() { logger_.write(level_, out_.str()); }
  std::ostringstream& stream() { return out_; }

 private:
  const Logger& logger_;
  LogLevel level_;
  std::ostringstream out_;
};

}  // namespace tally

#define TALLY_LOG(logger, level)                           \
  if (!(logger).enabled(::tally::LogLevel::level)) {       \
  } else                                                   \
    ::tally::LogLine((logger), ::tally::LogLevel::level).stream()
