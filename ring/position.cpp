#include "ring/position.hpp"

#include <xxhash.h>

namespace tally::ring {

uint64_t keyspace_seed(std::string_view keyspace) {
  return XXH3_64bits(keyspace.data(), keyspace.size());
}

uint64_t key_position(uint64_t seed, std::string_view key) {
  return XXH3_64bits_withSeed(key.data(), key.size(), seed);
}

}  // namespace tally::ring
