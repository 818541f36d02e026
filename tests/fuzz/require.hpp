#pragma once

#include <cstdlib>

namespace agproxy::fuzz {

// Stop the run when a property does not hold: libFuzzer reports the abort and keeps the input.
inline void require(bool condition) {
  if (!condition) {
    std::abort();
  }
}

} // namespace agproxy::fuzz
