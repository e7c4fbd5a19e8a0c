#include "common/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace tally {

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "DEBUG";
    case LogLevel::kInfo: return "INFO";
    case LogLevel::kWarn: return "WARN";
    case LogLevel::kError: return "ERROR";
  }
  return "?";
}

std::optional<LogLevel> parse_log_level(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warn") return LogLevel::kWarn;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

Logger::Logger(std::string component, LogLevel min_level)
    : Logger(std::move(component), min_level, stderr_sink()) {}

Logger::Logger(std::string component, LogLevel min_level, Sink sink)
    : component_(std::move(component)), min_level_(min_level), sink_(std::move(sink)) {}

void Logger::write(LogLevel level, std::string_view line) const {
  if (enabled(level) && sink_) sink_(level, component_, line);
}

Logger Logger::child(std::string_view sub) const {
  return Logger(component_ + "." + std::string(sub), min_level_, sink_);
}

Logger::Sink Logger::stderr_sink() {
  return [](LogLevel level, std::string_view component, std::string_view line) {
    auto now = std::chrono::system_clock::now();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    // One fprintf per line: stdio locks the stream, so lines from threads never interleave.
    std::fprintf(stderr, "%s.%03dZ %-5.*s %.*s: %.*s\n", stamp, static_cast<int>(ms % 1000),
                 static_cast<int>(log_level_name(level).size()), log_level_name(level).data(),
                 static_cast<int>(component.size()), component.data(),
                 static_cast<int>(line.size()), line.data());
  };
}

}  // namespace tally
