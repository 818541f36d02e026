#include "server/auth/auth.hpp"

#include <doctest/doctest.h>
#include <vector>

using namespace agproxy;

namespace {

constexpr std::string_view k_key = "sk-0123456789abcdef0123456789abcdef";
constexpr std::string_view k_wrong = "sk-ffffffffffffffffffffffffffffffff";

using Header = std::optional<std::string_view>;

struct Row {
  const char* name;
  AuthMode mode;
  std::string_view api_key;
  std::string_view method;
  std::string_view path;
  Header authorization;
  Header x_api_key;
  Header x_goog_api_key;
  bool allowed;
  DenyReason reason;
  std::optional<KeyHeader> read;
  std::vector<KeyHeader> ignored;
};

const std::string bearer_right = "Bearer " + std::string(k_key);
const std::string bearer_wrong = "Bearer " + std::string(k_wrong);
const std::string glued = "Bearer" + std::string(k_key);
const std::string lower = "bearer " + std::string(k_key);
const std::string upper = "BEARER " + std::string(k_key);
const std::string spaces = "Bearer   " + std::string(k_key);
const std::string double_scheme = "Bearer Bearer " + std::string(k_key);

constexpr auto S = AuthMode::strict;
constexpr auto H = AuthMode::all_except_health;
constexpr auto O = AuthMode::off;
constexpr auto A = KeyHeader::authorization;
constexpr auto X = KeyHeader::x_api_key;
constexpr auto G = KeyHeader::x_goog_api_key;
constexpr auto none = DenyReason::none;
constexpr auto missing = DenyReason::missing_api_key;
constexpr auto invalid = DenyReason::invalid_api_key;
constexpr auto malformed = DenyReason::malformed_authorization;
constexpr auto empty_key = DenyReason::proxy_api_key_empty;

std::vector<Row> rows() {
  const auto n = std::nullopt;
  return {
      // Headers one at a time.
      {"no header", S, k_key, "GET", "/v1/models", n, n, n, false, missing, n, {}},
      {"Authorization right", S, k_key, "GET", "/v1/models", bearer_right, n, n, true, none, A, {}},
      {"Authorization wrong",
       S,
       k_key,
       "GET",
       "/v1/models",
       bearer_wrong,
       n,
       n,
       false,
       invalid,
       A,
       {}},
      {"x-api-key right", S, k_key, "POST", "/v1/messages", n, k_key, n, true, none, X, {}},
      {"x-api-key wrong", S, k_key, "POST", "/v1/messages", n, k_wrong, n, false, invalid, X, {}},
      {"x-goog-api-key right",
       S,
       k_key,
       "POST",
       "/v1beta/models/g:generateContent",
       n,
       n,
       k_key,
       true,
       none,
       G,
       {}},
      {"x-goog-api-key wrong",
       S,
       k_key,
       "POST",
       "/v1beta/models/g:generateContent",
       n,
       n,
       k_wrong,
       false,
       invalid,
       G,
       {}},
      // The higher header wrong, the lower right: the lower one is never consulted.
      {"Authorization wrong + x-api-key right",
       S,
       k_key,
       "GET",
       "/v1/models",
       bearer_wrong,
       k_key,
       n,
       false,
       invalid,
       A,
       {X}},
      {"Authorization wrong + x-goog-api-key right",
       S,
       k_key,
       "GET",
       "/v1/models",
       bearer_wrong,
       n,
       k_key,
       false,
       invalid,
       A,
       {G}},
      {"x-api-key wrong + x-goog-api-key right",
       S,
       k_key,
       "GET",
       "/v1/models",
       n,
       k_wrong,
       k_key,
       false,
       invalid,
       X,
       {G}},
      {"all three, Authorization wrong",
       S,
       k_key,
       "GET",
       "/v1/models",
       bearer_wrong,
       k_key,
       k_key,
       false,
       invalid,
       A,
       {X, G}},
      // The higher header right wins whatever follows.
      {"Authorization right + x-api-key wrong",
       S,
       k_key,
       "GET",
       "/v1/models",
       bearer_right,
       k_wrong,
       n,
       true,
       none,
       A,
       {X}},
      {"x-api-key right + x-goog-api-key wrong",
       S,
       k_key,
       "GET",
       "/v1/models",
       n,
       k_key,
       k_wrong,
       true,
       none,
       X,
       {G}},
      // Authorization forms.
      {"Bearer<key> glued", S, k_key, "GET", "/v1/models", glued, n, n, false, malformed, A, {}},
      {"Bearer<key> glued + right x-api-key",
       S,
       k_key,
       "GET",
       "/v1/models",
       glued,
       k_key,
       n,
       false,
       malformed,
       A,
       {X}},
      {"lowercase bearer", S, k_key, "GET", "/v1/models", lower, n, n, true, none, A, {}},
      {"uppercase BEARER", S, k_key, "GET", "/v1/models", upper, n, n, true, none, A, {}},
      {"several spaces after Bearer",
       S,
       k_key,
       "GET",
       "/v1/models",
       spaces,
       n,
       n,
       true,
       none,
       A,
       {}},
      {"Bearer alone", S, k_key, "GET", "/v1/models", "Bearer", n, n, false, malformed, A, {}},
      {"Bearer and spaces only",
       S,
       k_key,
       "GET",
       "/v1/models",
       "Bearer   ",
       n,
       n,
       false,
       malformed,
       A,
       {}},
      {"doubled scheme", S, k_key, "GET", "/v1/models", double_scheme, n, n, false, invalid, A, {}},
      {"bare key in Authorization", S, k_key, "GET", "/v1/models", k_key, n, n, true, none, A, {}},
      {"bare wrong key in Authorization",
       S,
       k_key,
       "GET",
       "/v1/models",
       k_wrong,
       n,
       n,
       false,
       invalid,
       A,
       {}},
      {"empty Authorization", S, k_key, "GET", "/v1/models", "", n, n, false, missing, A, {}},
      {"empty x-api-key before right x-goog-api-key",
       S,
       k_key,
       "GET",
       "/v1/models",
       n,
       "",
       k_key,
       false,
       missing,
       X,
       {G}},
      // Empty api_key in each enforced mode; off lets everything through.
      {"empty api_key, off", O, "", "GET", "/v1/models", n, n, n, true, none, n, {}},
      {"empty api_key, strict, no header",
       S,
       "",
       "GET",
       "/v1/models",
       n,
       n,
       n,
       false,
       empty_key,
       n,
       {}},
      {"empty api_key, strict, a header",
       S,
       "",
       "GET",
       "/v1/models",
       bearer_right,
       n,
       n,
       false,
       empty_key,
       A,
       {}},
      {"empty api_key, strict, healthz",
       S,
       "",
       "GET",
       "/healthz",
       n,
       n,
       n,
       false,
       empty_key,
       n,
       {}},
      {"empty api_key, all_except_health, healthz",
       H,
       "",
       "GET",
       "/healthz",
       n,
       n,
       n,
       true,
       none,
       n,
       {}},
      {"empty api_key, all_except_health, models",
       H,
       "",
       "GET",
       "/v1/models",
       bearer_right,
       n,
       n,
       false,
       empty_key,
       A,
       {}},
      // OPTIONS always passes.
      {"OPTIONS strict", S, k_key, "OPTIONS", "/v1/chat/completions", n, n, n, true, none, n, {}},
      {"OPTIONS all_except_health", H, k_key, "OPTIONS", "/v1/models", n, n, n, true, none, n, {}},
      {"OPTIONS off", O, k_key, "OPTIONS", "/v1/models", n, n, n, true, none, n, {}},
      {"OPTIONS strict, empty api_key", S, "", "OPTIONS", "/v1/models", n, n, n, true, none, n, {}},
      // Health endpoints in each mode.
      {"GET /healthz off", O, k_key, "GET", "/healthz", n, n, n, true, none, n, {}},
      {"HEAD /healthz off", O, k_key, "HEAD", "/healthz", n, n, n, true, none, n, {}},
      {"GET /health off", O, k_key, "GET", "/health", n, n, n, true, none, n, {}},
      {"HEAD /health off", O, k_key, "HEAD", "/health", n, n, n, true, none, n, {}},
      {"GET /healthz all_except_health", H, k_key, "GET", "/healthz", n, n, n, true, none, n, {}},
      {"HEAD /healthz all_except_health", H, k_key, "HEAD", "/healthz", n, n, n, true, none, n, {}},
      {"GET /health all_except_health", H, k_key, "GET", "/health", n, n, n, true, none, n, {}},
      {"HEAD /health all_except_health", H, k_key, "HEAD", "/health", n, n, n, true, none, n, {}},
      {"GET /healthz strict", S, k_key, "GET", "/healthz", n, n, n, false, missing, n, {}},
      {"HEAD /healthz strict", S, k_key, "HEAD", "/healthz", n, n, n, false, missing, n, {}},
      {"GET /health strict", S, k_key, "GET", "/health", n, n, n, false, missing, n, {}},
      {"HEAD /health strict", S, k_key, "HEAD", "/health", n, n, n, false, missing, n, {}},
      {"GET /healthz strict with key",
       S,
       k_key,
       "GET",
       "/healthz",
       bearer_right,
       n,
       n,
       true,
       none,
       A,
       {}},
      {"POST /healthz all_except_health",
       H,
       k_key,
       "POST",
       "/healthz",
       n,
       n,
       n,
       false,
       missing,
       n,
       {}},
      {"GET /healthz/ is not the health path",
       H,
       k_key,
       "GET",
       "/healthz/",
       n,
       n,
       n,
       false,
       missing,
       n,
       {}},
      {"all_except_health other route",
       H,
       k_key,
       "GET",
       "/v1/models",
       n,
       n,
       n,
       false,
       missing,
       n,
       {}},
      {"off, wrong key", O, k_key, "GET", "/v1/models", bearer_wrong, n, n, true, none, n, {}},
  };
}

} // namespace

TEST_CASE("effective_auth_mode follows the seed's table") {
  struct ModeRow {
    AuthMode mode;
    bool lan;
    AuthMode effective;
  };
  const ModeRow table[] = {
      {AuthMode::off, false, AuthMode::off},
      {AuthMode::off, true, AuthMode::off},
      {AuthMode::strict, false, AuthMode::strict},
      {AuthMode::strict, true, AuthMode::strict},
      {AuthMode::all_except_health, false, AuthMode::all_except_health},
      {AuthMode::all_except_health, true, AuthMode::all_except_health},
      {AuthMode::auto_, false, AuthMode::off},
      {AuthMode::auto_, true, AuthMode::all_except_health},
  };
  for (const ModeRow& row : table) {
    CAPTURE(to_string(row.mode));
    CAPTURE(row.lan);
    CHECK(effective_auth_mode(row.mode, row.lan) == row.effective);
  }
  CHECK(explain_effective_mode(AuthMode::auto_, true) ==
        "auto → all_except_health because allow_lan_access=true");
  CHECK(explain_effective_mode(AuthMode::auto_, false) ==
        "auto → off because allow_lan_access=false");
}

TEST_CASE("parse_auth_mode accepts the four snake_case spellings only") {
  CHECK(parse_auth_mode("off") == AuthMode::off);
  CHECK(parse_auth_mode("strict") == AuthMode::strict);
  CHECK(parse_auth_mode("all_except_health") == AuthMode::all_except_health);
  CHECK(parse_auth_mode("auto") == AuthMode::auto_);
  CHECK_FALSE(parse_auth_mode("Strict"));
  CHECK_FALSE(parse_auth_mode("allExceptHealth"));
  CHECK_FALSE(parse_auth_mode(""));
  for (AuthMode mode :
       {AuthMode::off, AuthMode::strict, AuthMode::all_except_health, AuthMode::auto_}) {
    CHECK(parse_auth_mode(to_string(mode)) == mode);
  }
}

TEST_CASE("decide") {
  for (const Row& row : rows()) {
    CAPTURE(row.name);
    const AuthPolicy policy(row.mode, std::string(row.api_key));
    const AuthRequest request{row.method, row.path, row.authorization, row.x_api_key,
                              row.x_goog_api_key};
    const AuthDecision decision = decide(policy, request);
    CHECK(decision.allowed == row.allowed);
    CHECK(to_string(decision.reason) == to_string(row.reason));
    if (decision.allowed == row.allowed && !row.allowed) {
      CHECK(decision.key_required);
      CHECK(decision.header_read == row.read);
      CHECK(decision.headers_ignored == row.ignored);
    }
  }
}

TEST_CASE("parse_authorization") {
  CHECK(parse_authorization("Bearer abc").key == "abc");
  CHECK(parse_authorization("Bearer abc").bearer);
  CHECK(parse_authorization("bEaReR    abc").key == "abc");
  CHECK(parse_authorization("Bearerabc").malformed);
  CHECK(parse_authorization("Bearerabc").key == "Bearerabc");
  CHECK(parse_authorization("Bearer").malformed);
  CHECK(parse_authorization("abc").key == "abc");
  CHECK_FALSE(parse_authorization("abc").bearer);
  CHECK_FALSE(parse_authorization("Basic abc").malformed);
  CHECK(parse_authorization("Bearer\tabc").malformed); // RFC 7235: one or more spaces, not tabs
}

TEST_CASE("AuthPolicy::key_matches") {
  const AuthPolicy policy(AuthMode::strict, std::string(k_key));
  CHECK(policy.key_matches(k_key));
  CHECK_FALSE(policy.key_matches(k_wrong));
  CHECK_FALSE(policy.key_matches(k_key.substr(0, 10)));
  CHECK_FALSE(policy.key_matches(std::string(k_key) + "x"));
  CHECK_FALSE(policy.key_matches(""));
  const AuthPolicy empty(AuthMode::strict, "");
  CHECK_FALSE(empty.key_matches(""));
  CHECK_FALSE(empty.key_configured());
  CHECK(AuthPolicy(AuthMode::auto_, "k").mode() == AuthMode::off);
}

TEST_CASE("describe_denial names headers, never values") {
  const AuthPolicy policy(AuthMode::strict, std::string(k_key));
  const AuthRequest request{"GET", "/v1/models", bearer_wrong, k_key, k_wrong};
  const AuthDecision decision = decide(policy, request);
  const std::string message = describe_denial(decision, policy.mode());
  CHECK(message.find("Authorization") != std::string::npos);
  CHECK(message.find("x-api-key and x-goog-api-key were also sent and ignored") !=
        std::string::npos);
  CHECK(message.find(k_key.substr(3)) == std::string::npos);
  CHECK(message.find(k_wrong.substr(3)) == std::string::npos);

  const AuthDecision glued_decision = decide(policy, {"GET", "/", glued, {}, {}});
  CHECK(describe_denial(glued_decision, policy.mode()).find("then a space") != std::string::npos);

  const AuthPolicy empty(AuthMode::strict, "");
  CHECK(describe_denial(decide(empty, {"GET", "/", {}, {}, {}}), empty.mode())
            .find("no api_key configured") != std::string::npos);
  CHECK(describe_denial(decide(policy, {"GET", "/", {}, {}, {}}), policy.mode())
            .find("no proxy API key was sent") != std::string::npos);
}
