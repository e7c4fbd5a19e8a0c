#include "common/lock_record.hpp"

#include <charconv>

namespace tally::lockrec {

namespace {
constexpr std::string_view kPrefix = "tally-lock ";
}  // namespace

LockMutations& lock_mutations() {
  static LockMutations m;
  return m;
}

namespace {
bool held_by(const LockRead& read, uint64_t token) {
  return read.record && read.record->held() && read.record->token == token;
}
}  // namespace

LockPlan plan_acquire(const LockRead& read, std::string holder) {
  if (read.record && read.record->held()) return LockPlan{LockVerdict::kHeldByOther, *read.record};
  return LockPlan{LockVerdict::kWrite, LockRecord{token_over(read.seq), std::move(holder)}};
}

LockPlan plan_renew(const LockRead& read, uint64_t token, std::string renewer) {
  if (held_by(read, token)) return LockPlan{LockVerdict::kWrite, *read.record};
  if (lock_mutations().renew_ignores_token) return LockPlan{LockVerdict::kWrite, LockRecord{token, std::move(renewer)}};
  return LockPlan{LockVerdict::kNotHolder, {}};
}

LockPlan plan_release(const LockRead& read, uint64_t token) {
  if (!held_by(read, token)) return LockPlan{LockVerdict::kNotHolder, {}};
  return LockPlan{LockVerdict::kWrite, freed(*read.record)};
}

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
