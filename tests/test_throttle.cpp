// The brute-force guard: failed authentications per client address.
#include "server/auth/throttle.hpp"
#include "server/config/config.hpp"
#include "tests/support.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace agproxy;
using agproxy::test::contains;
using namespace std::chrono_literals;

namespace {

// GET /v1/models from source address `from` with `key`; returns the raw response.
std::string get_models_from(const char* from, int port, const std::string& key) {
  return agproxy::test::raw_exchange(port,
                                     "GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                     "Authorization: Bearer " +
                                         key + "\r\n\r\n",
                                     std::chrono::seconds(3), from);
}

} // namespace

TEST_CASE("AuthThrottle") {
  AuthThrottle throttle;
  ThrottleSettings settings{3, 10s, false};
  const auto t0 = AuthThrottle::Clock::now();
  for (int i = 0; i < 10; ++i) {
    throttle.record_failure("127.0.0.1", settings, t0); // loopback is trusted by default
  }
  CHECK_FALSE(throttle.blocked("127.0.0.1", settings, t0));
  for (int i = 0; i < 2; ++i) {
    throttle.record_failure("192.0.2.7", settings, t0);
  }
  CHECK_FALSE(throttle.blocked("192.0.2.7", settings, t0));
  throttle.record_failure("192.0.2.7", settings, t0 + 1s);
  CHECK(throttle.blocked("192.0.2.7", settings, t0 + 2s) ==
        std::optional<std::chrono::seconds>(8s));
  CHECK_FALSE(throttle.blocked("192.0.2.8", settings, t0 + 2s));  // other addresses are not
  CHECK_FALSE(throttle.blocked("192.0.2.7", settings, t0 + 10s)); // the window has passed
  // A new window starts from the next failure.
  throttle.record_failure("192.0.2.7", settings, t0 + 11s);
  CHECK_FALSE(throttle.blocked("192.0.2.7", settings, t0 + 11s));

  settings.include_loopback = true;
  for (int i = 0; i < 3; ++i) {
    throttle.record_failure("::1", settings, t0);
  }
  CHECK(throttle.blocked("::1", settings, t0).has_value());
  settings.max_failures = 0; // off
  CHECK_FALSE(throttle.blocked("::1", settings, t0));

  CHECK(is_loopback_address("127.0.0.2"));
  CHECK(is_loopback_address("::ffff:127.0.0.1"));
  CHECK_FALSE(is_loopback_address("10.0.0.1"));
}

TEST_CASE("proxy.auth_throttle in the config") {
  const ConfigDocument defaults = parse_config("{}", "/c.json");
  CHECK(defaults.settings.auth_throttle.max_failures == 20);
  CHECK(defaults.settings.auth_throttle.window == 60s);
  CHECK_FALSE(defaults.settings.auth_throttle.include_loopback);
  const ConfigDocument set = parse_config(
      R"({"proxy":{"auth_throttle":{"max_failures":5,"window_seconds":30,"include_loopback":true}}})",
      "/c.json");
  CHECK(set.settings.auth_throttle.max_failures == 5);
  CHECK(set.settings.auth_throttle.window == 30s);
  CHECK(set.settings.auth_throttle.include_loopback);
  try {
    (void)parse_config(R"({"proxy":{"auth_throttle":{"window_seconds":0}}})", "/c.json");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(contains(e.what(), "proxy.auth_throttle.window_seconds"));
  }
}

TEST_CASE("serve: an address with too many failed keys gets 429 until its window passes") {
  using agproxy::test::k_key;
  using agproxy::test::k_other;
  agproxy::test::TempDir dir;
  agproxy::test::write_text(
      dir.file("c.json"),
      nlohmann::json{{"proxy",
                      {{"auth_mode", "strict"},
                       {"api_key", k_key},
                       {"auth_throttle",
                        {{"max_failures", 3}, {"window_seconds", 2}, {"include_loopback", true}}}}}}
          .dump());
  agproxy::test::ServeProcess server({"--config", dir.file("c.json")}, {});
  const auto first_failure = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    CHECK(get_models_from("127.0.0.1", server.port(), k_other).starts_with("HTTP/1.1 401"));
  }
  const std::string refused = get_models_from("127.0.0.1", server.port(), k_key);
  CHECK(refused.starts_with("HTTP/1.1 429"));
  CHECK(contains(refused, "Retry-After: "));
  CHECK(contains(refused, "too_many_auth_failures"));
  // Another address, even on loopback, is unaffected.
  CHECK(get_models_from("127.0.0.2", server.port(), k_key).starts_with("HTTP/1.1 200"));
  // Retry-After says when the window ends; once it has, the right key works again.
  const size_t at = refused.find("Retry-After: ");
  REQUIRE(at != std::string::npos);
  const int wait = std::stoi(refused.substr(at + 13));
  CHECK(wait >= 1);
  CHECK(wait <= 2);
  std::this_thread::sleep_for(std::chrono::seconds(wait) + 100ms);
  CHECK(get_models_from("127.0.0.1", server.port(), k_key).starts_with("HTTP/1.1 200"));
  CHECK(std::chrono::steady_clock::now() - first_failure < 4s);
  CHECK(server.wait_for_log("reason=too_many_auth_failures"));
}

TEST_CASE("serve: loopback clients are not throttled unless configured") {
  agproxy::test::TempDir dir;
  agproxy::test::write_text(dir.file("c.json"),
                            agproxy::test::config_json("strict", false, agproxy::test::k_key));
  agproxy::test::ServeProcess server({"--config", dir.file("c.json")}, {});
  for (int i = 0; i < 30; ++i) {
    REQUIRE(get_models_from("127.0.0.1", server.port(), agproxy::test::k_other)
                .starts_with("HTTP/1.1 401"));
  }
  CHECK(get_models_from("127.0.0.1", server.port(), agproxy::test::k_key)
            .starts_with("HTTP/1.1 200"));
}
