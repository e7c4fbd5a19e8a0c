// Fences (docs/locks.md): what a key remembers of the fenced writes made to
// it. For each lock a fenced write named, the highest token among them, as
// two parallel vectors sorted by lock name. A fenced write whose token is
// below its lock's fence is refused; in a linearizable keyspace the check is
// part of the Paxos decision (quorum/paxos.hpp), in the other modes each
// replica makes it and the merge drops what a fence has overtaken
// (quorum/dvv.hpp). Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tally/status.hpp"

namespace tally::quorum {

// How many locks' fences one key keeps at most: a fenced write naming one
// more is refused. A merge of replicas that each took writes naming new
// locks at once can hold more (it never drops a fence: that would let an
// overtaken write back).
inline constexpr size_t kMaxFences = 16;

// The fence of `lock`: the highest token a fenced write of the key named
// for it; 0: none.
uint64_t fence_of(const std::vector<std::string>& locks, const std::vector<uint64_t>& tokens, std::string_view lock);

// Raises `lock`'s fence to `token` (never lowers it). False, changing
// nothing, when `lock` has no fence yet and kMaxFences locks have one.
bool raise_fence(std::vector<std::string>& locks, std::vector<uint64_t>& tokens, std::string_view lock,
                 uint64_t token);

// Both sides' fences, each lock at its higher token.
void merge_fences(const std::vector<std::string>& a_locks, const std::vector<uint64_t>& a_tokens,
                  const std::vector<std::string>& b_locks, const std::vector<uint64_t>& b_tokens,
                  std::vector<std::string>& locks, std::vector<uint64_t>& tokens);

// Ok if the vectors are parallel, the locks sorted and unique, no token 0,
// and at most `most` of them; otherwise InvalidArgument naming the problem,
// after `what`.
Status validate_fences(const std::vector<std::string>& locks, const std::vector<uint64_t>& tokens, size_t most,
                       std::string_view what);

// The error of a fenced write refused: kFenced, naming the key (when not
// empty), the lock, the write's token and the key's fence, then `outcome`.
Status fenced_off(std::string_view key, std::string_view lock, uint64_t token, uint64_t fence,
                  std::string_view outcome = "nothing was written");

}  // namespace tally::quorum
