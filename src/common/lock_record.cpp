#include "common/lock_record.hpp"

#include <charconv>

namespace tally::lockrec {

namespace {
constexpr std::string_view kPrefix = "tally-lock ";
}  // namespace

std::string encode(const LockRecord& r) {
  return std::string(kPrefix) + std::to_string(r.token) + " " + r.holder;
}

std::optional<LockRecord> decode(std::string_view value) {
  if (!value.starts_with(kPrefix)) return std::nullopt;
  value.remove_prefix(kPrefix.size());
  const size_t space = value.find(' ');
  if (space == std::string_view::npos || space == 0) return std::nullopt;
  LockRecord r;
  auto [end, ec] = std::from_chars(value.data(), value.data() + space, r.token);
  if (ec != std::errc() || end != value.data() + space) return std::nullopt;
  r.holder = std::string(value.substr(space + 1));
  return r;
}

}  // namespace tally::lockrec
