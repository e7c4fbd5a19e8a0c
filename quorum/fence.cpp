#include "quorum/fence.hpp"

#include <algorithm>

namespace tally::quorum {

uint64_t fence_of(const std::vector<std::string>& locks, const std::vector<uint64_t>& tokens, std::string_view lock) {
  auto it = std::lower_bound(locks.begin(), locks.end(), lock);
  return it != locks.end() && *it == lock ? tokens[static_cast<size_t>(it - locks.begin())] : 0;
}

bool raise_fence(std::vector<std::string>& locks, std::vector<uint64_t>& tokens, std::string_view lock,
                 uint64_t token) {
  auto it = std::lower_bound(locks.begin(), locks.end(), lock);
  const auto i = static_cast<size_t>(it - locks.begin());
  if (it != locks.end() && *it == lock) {
    tokens[i] = std::max(tokens[i], token);
    return true;
  }
  if (locks.size() >= kMaxFences) return false;
  locks.insert(it, std::string(lock));
  tokens.insert(tokens.begin() + static_cast<std::ptrdiff_t>(i), token);
  return true;
}

void merge_fences(const std::vector<std::string>& a_locks, const std::vector<uint64_t>& a_tokens,
                  const std::vector<std::string>& b_locks, const std::vector<uint64_t>& b_tokens,
                  std::vector<std::string>& locks, std::vector<uint64_t>& tokens) {
  locks.clear();
  tokens.clear();
  size_t i = 0, j = 0;
  while (i < a_locks.size() || j < b_locks.size()) {
    if (j == b_locks.size() || (i < a_locks.size() && a_locks[i] < b_locks[j])) {
      locks.push_back(a_locks[i]);
      tokens.push_back(a_tokens[i++]);
    } else if (i == a_locks.size() || b_locks[j] < a_locks[i]) {
      locks.push_back(b_locks[j]);
      tokens.push_back(b_tokens[j++]);
    } else {
      locks.push_back(a_locks[i]);
      tokens.push_back(std::max(a_tokens[i++], b_tokens[j++]));
    }
  }
}

Status validate_fences(const std::vector<std::string>& locks, const std::vector<uint64_t>& tokens, size_t most,
                       std::string_view what) {
  if (locks.size() != tokens.size() || locks.size() > most) {
    return Status::InvalidArgument(std::string(what) + ": " + std::to_string(locks.size()) + " fence locks and " +
                                   std::to_string(tokens.size()) + " tokens (one each, at most " +
                                   std::to_string(most) + ")");
  }
  for (size_t i = 0; i < locks.size(); ++i) {
    if (i > 0 && !(locks[i - 1] < locks[i])) {
      return Status::InvalidArgument(std::string(what) + ": fence locks not in increasing order");
    }
    if (tokens[i] == 0) return Status::InvalidArgument(std::string(what) + ": a fence with token 0");
  }
  return Status::Ok();
}

Status fenced_off(std::string_view key, std::string_view lock, uint64_t token, uint64_t fence,
                  std::string_view outcome) {
  return Status(Code::kFenced, (key.empty() ? "" : "write of key '" + std::string(key) + "' ") + "fenced off: lock '" +
                                   std::string(lock) + "' token " + std::to_string(token) + " is below token " +
                                   std::to_string(fence) + ", which a later holder wrote the key with; " +
                                   std::string(outcome));
}

}  // namespace tally::quorum
