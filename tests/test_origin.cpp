// The browser rules of DESIGN §11, row by row: which origins and Host names are this machine's.
#include "server/auth/origin.hpp"
#include "server/auth/secret.hpp"

#include <doctest/doctest.h>

using namespace agproxy;

TEST_CASE("is_loopback_name") {
  for (const char* host : {"localhost", "LOCALHOST", "app.localhost", "127.0.0.1", "127.1.2.3",
                           "::1", "::ffff:127.0.0.1"}) {
    CAPTURE(host);
    CHECK(is_loopback_name(host));
  }
  for (const char* host : {"localhost.evil.example", "127.0.0.1.evil.example", "10.0.0.1",
                           "0.0.0.0", "::", "evil.example", "", "[::1]"}) {
    CAPTURE(host);
    CHECK_FALSE(is_loopback_name(host));
  }
}

TEST_CASE("host_allowed: loopback names and addresses, and the listed ones") {
  const std::vector<std::string> listed = {"myhost.lan"};
  for (const char* host : {"localhost", "localhost:8045", "127.0.0.1:8045", "[::1]:8045", "[::1]",
                           "myhost.lan", "MyHost.lan:8045"}) {
    CAPTURE(host);
    CHECK(host_allowed(host, listed));
  }
  for (const char* host : {"evil.example", "evil.example:8045", "myhost.lan.evil.example",
                           "localhost:", "localhost:80:80", "[::1", "user@localhost", ""}) {
    CAPTURE(host);
    CHECK_FALSE(host_allowed(host, listed));
  }
}

TEST_CASE("origin_allowed: loopback origins on any port, and the listed ones exactly") {
  const std::vector<std::string> listed = {"https://app.example.com", "http://tool.lan:8080"};
  for (const char* origin :
       {"http://localhost:5173", "https://localhost", "http://127.0.0.1:3000", "http://[::1]:8080",
        "https://app.example.com", "HTTPS://App.Example.com", "http://tool.lan:8080"}) {
    CAPTURE(origin);
    CHECK(origin_allowed(origin, listed));
  }
  for (const char* origin :
       {"https://evil.example", "null", "https://app.example.com:444", "http://app.example.com",
        "http://tool.lan", "file://", "chrome-extension://abc", "ws://localhost:1",
        "http://localhost.evil.example", "https://app.example.com.evil.example", ""}) {
    CAPTURE(origin);
    CHECK_FALSE(origin_allowed(origin, listed));
  }
  CHECK_FALSE(check_origin_entry("https://app.example.com"));
  CHECK_FALSE(check_origin_entry("chrome-extension://abcdef"));
  CHECK(check_origin_entry("https://app.example.com/"));
  CHECK(check_origin_entry("app.example.com"));
  CHECK(check_origin_entry("*"));
}

TEST_CASE("mask_url: userinfo and query are secrets") {
  CHECK(mask_url("https://api.openai.com") == "https://api.openai.com");
  CHECK(mask_url("http://user:pw@127.0.0.1:1/v1?token=q") == "http://***@127.0.0.1:1/v1?***");
  CHECK(mask_url("https://h/p?key=1") == "https://h/p?***");
  CHECK(mask_url("https://h/a@b") == "https://h/a@b");
}
