// What the fuzz targets here share. FUZZ_CHECK: a property that does not
// hold aborts, which libFuzzer reports as a finding with the input that broke
// it; the message names the property, so a finding says what went wrong.
// split_feeds: the stream parsers' targets feed the same bytes whole and in
// pieces and check that both parse alike.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)

// `stream` cut into feeds of 0 to 8 bytes (empty feeds too), where the cuts
// fall decided by `seed` (a byte of the input, so the fuzzer steers them).
inline std::vector<std::string_view> split_feeds(std::string_view stream, uint32_t seed) {
  std::vector<std::string_view> chunks;
  for (size_t at = 0; at < stream.size();) {
    seed = seed * 1103515245u + 12345u;
    const size_t n = std::min<size_t>(stream.size() - at, (seed >> 16) % 9);
    chunks.push_back(stream.substr(at, n));
    at += n;
  }
  return chunks;
}
