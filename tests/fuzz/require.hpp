#pragma once

#include <cstdio>
#include <cstdlib>

namespace agproxy::fuzz {

// Stop the run when a property does not hold, naming it: libFuzzer reports the abort and keeps
// the input.
inline void require(bool condition, const char* property, int line) {
  if (!condition) {
    std::fprintf(stderr, "property failed (line %d): %s\n", line, property);
    std::abort();
  }
}

} // namespace agproxy::fuzz

// Check a property of the code under test.
#define FUZZ_REQUIRE(condition) ::agproxy::fuzz::require((condition), #condition, __LINE__)
