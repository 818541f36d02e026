// The fake provider as its own process, for the SDK tests and benchmarks: prints its URL, serves
// until stdin closes or a signal stops it.
#include "tests/fake_provider.hpp"

#include <iostream>
#include <string>

int main() {
  agproxy::test::FakeProvider provider;
  std::cout << "fake provider listening on " << provider.url() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  return 0;
}
