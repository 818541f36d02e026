#include "server/auth/secret.hpp"

#include <doctest/doctest.h>
#include <regex>
#include <set>

using namespace agproxy;

TEST_CASE("generate_api_key") {
  const std::regex shape("sk-[0-9a-f]{32}");
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const std::string key = generate_api_key();
    CHECK(std::regex_match(key, shape));
    seen.insert(key);
  }
  CHECK(seen.size() == 100);
}

TEST_CASE("mask_secret") {
  CHECK(mask_secret("sk-0123456789abcdef0123456789abcdef") == "sk-…cdef");
  CHECK(mask_secret("AIzaSyExampleExampleExample1234") == "…1234");
  CHECK(mask_secret("short") == "…(5 chars)");
  CHECK(mask_secret("") == "(empty)");
}

TEST_CASE("fingerprint") {
  CHECK(fingerprint("abc") == "ba7816bf"); // SHA-256("abc") starts ba7816bf
  CHECK(fingerprint("abc").size() == 8);
  CHECK(fingerprint("abd") != fingerprint("abc"));
}
