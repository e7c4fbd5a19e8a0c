// What the fuzz targets here assert with: a property that does not hold
// aborts, which libFuzzer reports as a finding with the input that broke it.
// The message names the property, so a finding says what went wrong.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
