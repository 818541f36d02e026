// The fake provider as its own process, for the SDK tests and benchmarks: prints its URL, serves
// until stdin closes or a signal stops it.
#include "tests/fake_provider.hpp"

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  // fake_provider [THREADS]: one thread per concurrent stream it serves.
  const size_t threads = argc > 1 ? std::stoul(argv[1]) : 64;
  agproxy::test::FakeProvider provider(threads);
  std::cout << "fake provider listening on " << provider.url() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
