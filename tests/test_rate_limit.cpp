// What providers' error answers say of their limits: each provider's shapes, Retry-After against
// the body's own delays, and bodies that are malformed or hostile.
#include "server/upstream/rate_limit.hpp"
#include "tests/fake_provider.hpp"

#include <doctest/doctest.h>
#include <httplib.h>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

using namespace agproxy;
using nlohmann::json;
using std::chrono::seconds;

namespace {

using Headers = std::map<std::string, std::string>;

// 2026-03-05T07:00:00Z, a Thursday.
const std::chrono::system_clock::time_point k_now =
    std::chrono::sys_days(std::chrono::year(2026) / 3 / 5) + std::chrono::hours(7);

ProviderLimit read(Protocol protocol, int status, const std::string& body,
                   const Headers& headers = {}) {
  const HeaderLookup lookup = [&headers](std::string_view name) {
    std::string lower(name);
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const auto found = headers.find(lower);
    return found == headers.end() ? std::string() : found->second;
  };
  return read_provider_limit(protocol, status, lookup, body, k_now);
}

std::optional<seconds> after(long long count) {
  return seconds(count);
}

// A Gemini API error with these `details` (a vector: `{detail}` as a json would copy it, not list
// it).
std::string google_error(int code, const std::string& status, const std::vector<json>& details,
                         const std::string& message = "Resource has been exhausted") {
  return json{
      {"error", {{"code", code}, {"message", message}, {"status", status}, {"details", details}}}}
      .dump();
}

json quota_failure(const std::string& quota_id, const std::string& value) {
  return {
      {"@type", "type.googleapis.com/google.rpc.QuotaFailure"},
      {"violations",
       {{{"quotaMetric", "generativelanguage.googleapis.com/generate_content_free_tier_requests"},
         {"quotaId", quota_id},
         {"quotaDimensions", {{"location", "global"}, {"model", "gemini-2.5-pro"}}},
         {"quotaValue", value}}}}};
}

json retry_info(const std::string& delay) {
  return {{"@type", "type.googleapis.com/google.rpc.RetryInfo"}, {"retryDelay", delay}};
}

json error_info(const std::string& reason, const json& metadata) {
  return {{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
          {"reason", reason},
          {"domain", "cloudcode-pa.googleapis.com"},
          {"metadata", metadata}};
}

} // namespace

TEST_CASE("parse_duration") {
  using std::chrono::milliseconds;
  struct Row {
    const char* text;
    std::optional<milliseconds> value;
  };
  const Row table[] = {
      {"29s", milliseconds(29'000)},
      {"1.5s", milliseconds(1'500)},
      {"0.3s", milliseconds(300)},
      {"34.074824224s", milliseconds(34'075)}, // rounded up
      {"20ms", milliseconds(20)},
      {"6m0s", milliseconds(360'000)},
      {"1h2m3.5s", milliseconds(3'723'500)},
      {"135h9m46s", milliseconds(486'586'000)},
      {"1s", milliseconds(1'000)},
      {"1.5ms", milliseconds(2)},
      {"250us", milliseconds(1)},
      {"250\xC2\xB5s", milliseconds(1)},
      {"900ns", milliseconds(1)},
      {"0", milliseconds(0)},
      {"0s", milliseconds(0)},
      {".5s", milliseconds(500)},
      {"", std::nullopt},
      {"s", std::nullopt},
      {"29", std::nullopt},
      {"-5s", std::nullopt},
      {"5 s", std::nullopt},
      {"5.s", std::nullopt},
      {"5d", std::nullopt},
      {"1h2x", std::nullopt},
      {"99999999999999999999s", std::nullopt},
      {"9900602836807086519s", std::nullopt}, // (once overflowed while reading its digits)
      {"999999999999h", std::nullopt},
      {"2562047h", std::nullopt}, // beyond the longest delay read
  };
  for (const Row& row : table) {
    CAPTURE(row.text);
    CHECK(parse_duration(row.text) == row.value);
  }
}

TEST_CASE("to_string(LimitScope)") {
  CHECK(to_string(LimitScope::quota) == "quota");
  CHECK(to_string(LimitScope::rate) == "rate");
  CHECK(to_string(LimitScope::capacity) == "capacity");
  CHECK(to_string(LimitScope::unknown) == "unknown");
}

TEST_CASE("read_provider_limit: Gemini quotas") {
  SUBCASE("a daily quota, with a RetryInfo that would retry within the minute") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED",
                          {quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "50"),
                           retry_info("29s")}));
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.retry_after == after(29));
    CHECK(limit.detail == "quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)");
    CHECK_FALSE(limit.key_invalid);
  }
  SUBCASE("a per-minute rate, after a Help detail, with a fractional delay") {
    const ProviderLimit limit = read(
        Protocol::gemini, 429,
        google_error(429, "RESOURCE_EXHAUSTED",
                     {{{"@type", "type.googleapis.com/google.rpc.Help"},
                       {"links", {{{"description", "Learn more"}, {"url", "https://x"}}}}},
                      quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "5"),
                      retry_info("58.217843437s")}));
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.retry_after == after(59));
    CHECK(limit.detail == "quotaId GenerateRequestsPerMinutePerProjectPerModel-FreeTier (limit 5)");
  }
  SUBCASE("a per-second rate; quotaValue as a number") {
    json failure = quota_failure("GenerateContentInputTokensPerSecondPerModel", "0");
    failure["violations"][0]["quotaValue"] = 1000;
    const ProviderLimit limit =
        read(Protocol::gemini, 429, google_error(429, "RESOURCE_EXHAUSTED", {failure}));
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.detail == "quotaId GenerateContentInputTokensPerSecondPerModel (limit 1000)");
    CHECK_FALSE(limit.retry_after);
  }
  SUBCASE("a daily violation outweighs a per-minute one named first") {
    json failure = quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "5");
    failure["violations"].push_back(
        quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "25")["violations"][0]);
    const ProviderLimit limit =
        read(Protocol::gemini, 429, google_error(429, "RESOURCE_EXHAUSTED", {failure}));
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.detail == "quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 25)");
  }
  SUBCASE("an OpenAI-compatible endpoint's answer: the same error in an array") {
    const std::string body =
        "[" +
        google_error(429, "RESOURCE_EXHAUSTED",
                     {quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "50")}) +
        "]";
    const ProviderLimit limit = read(Protocol::openai, 429, body);
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.detail == "quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)");
  }
  SUBCASE("only the message's \"Please retry in\"") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED", {},
                          "You exceeded your current quota.\nPlease retry in 58.217843437s."));
    CHECK(limit.scope == LimitScope::unknown);
    CHECK(limit.detail == "Gemini RESOURCE_EXHAUSTED");
    CHECK(limit.retry_after == after(59));
  }
}

TEST_CASE("read_provider_limit: Code Assist and Antigravity ErrorInfo") {
  SUBCASE("QUOTA_EXHAUSTED with quotaResetDelay") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(
                 429, "RESOURCE_EXHAUSTED",
                 {error_info("QUOTA_EXHAUSTED", {{"model", "claude-opus-4-5-thinking"},
                                                 {"quotaResetDelay", "135h9m46s"},
                                                 {"quotaResetTimeStamp", "2026-03-10T22:09:46Z"}})},
                 "You have exhausted your capacity on this model."));
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.retry_after == after(486'586));
    CHECK(limit.detail == "Gemini QUOTA_EXHAUSTED (model claude-opus-4-5-thinking)");
  }
  SUBCASE("QUOTA_EXHAUSTED with only quotaResetTimeStamp") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED",
                          {error_info("QUOTA_EXHAUSTED",
                                      {{"quotaResetTimeStamp", "2026-03-05T07:20:42Z"}})}));
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.retry_after == after(1242));
    CHECK(limit.detail == "Gemini QUOTA_EXHAUSTED");
  }
  SUBCASE("RATE_LIMIT_EXCEEDED with a Go-style quotaResetDelay") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED",
                          {error_info("RATE_LIMIT_EXCEEDED", {{"quotaResetDelay", "1h2m3.5s"}})}));
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.retry_after == after(3724));
    CHECK(limit.detail == "Gemini RATE_LIMIT_EXCEEDED");
  }
  SUBCASE("RetryInfo wins over quotaResetDelay") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED",
                          {error_info("RATE_LIMIT_EXCEEDED", {{"quotaResetDelay", "500ms"}}),
                           retry_info("3s")}));
    CHECK(limit.retry_after == after(3));
  }
  SUBCASE("a Google API's RATE_LIMIT_EXCEEDED naming a daily quota_limit") {
    const ProviderLimit limit = read(
        Protocol::gemini, 429,
        google_error(429, "RESOURCE_EXHAUSTED",
                     {error_info("RATE_LIMIT_EXCEEDED",
                                 {{"quota_limit", "GenerateRequestsPerDayPerProjectPerModel"}})}));
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.detail ==
          "Gemini RATE_LIMIT_EXCEEDED (quota_limit GenerateRequestsPerDayPerProjectPerModel)");
  }
  SUBCASE("MODEL_CAPACITY_EXHAUSTED") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(
                 429, "RESOURCE_EXHAUSTED",
                 {error_info("MODEL_CAPACITY_EXHAUSTED", {{"model", "gemini-3-flash-preview"}})},
                 "No capacity available for model gemini-3-flash-preview on the server"));
    CHECK(limit.scope == LimitScope::capacity);
    CHECK(limit.detail == "Gemini MODEL_CAPACITY_EXHAUSTED (model gemini-3-flash-preview)");
    CHECK_FALSE(limit.retry_after);
  }
  SUBCASE("only the message says there is no capacity") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED", {},
                          "No capacity available for model gemini-3-flash-preview on the server"));
    CHECK(limit.scope == LimitScope::capacity);
    CHECK(limit.detail == "Gemini no capacity for the model");
  }
  SUBCASE("503 UNAVAILABLE: the model is overloaded") {
    const ProviderLimit limit =
        read(Protocol::gemini, 503,
             json{{"error",
                   {{"code", 503},
                    {"message", "The model is overloaded. Please try again later."},
                    {"status", "UNAVAILABLE"}}}}
                 .dump());
    CHECK(limit.scope == LimitScope::capacity);
    CHECK(limit.detail == "Gemini UNAVAILABLE (HTTP 503)");
  }
}

TEST_CASE("read_provider_limit: Gemini refuses a key with 400") {
  const std::string message = "API key not valid. Please pass a valid API key.";
  SUBCASE("ErrorInfo API_KEY_INVALID") {
    const ProviderLimit limit =
        read(Protocol::gemini, 400,
             google_error(400, "INVALID_ARGUMENT",
                          {{{"@type", "type.googleapis.com/google.rpc.ErrorInfo"},
                            {"reason", "API_KEY_INVALID"},
                            {"domain", "googleapis.com"},
                            {"metadata", {{"service", "generativelanguage.googleapis.com"}}}}},
                          message));
    CHECK(limit.key_invalid);
    CHECK(limit.scope == LimitScope::unknown);
    CHECK(limit.detail == "Gemini API_KEY_INVALID");
  }
  SUBCASE("only the message") {
    const ProviderLimit limit =
        read(Protocol::gemini, 400,
             json{{"error", {{"code", 400}, {"message", message}, {"status", "INVALID_ARGUMENT"}}}}
                 .dump());
    CHECK(limit.key_invalid);
    CHECK(limit.detail == "Gemini INVALID_ARGUMENT (HTTP 400)");
  }
  SUBCASE("another 400 is not about the key") {
    const ProviderLimit limit = read(
        Protocol::gemini, 400,
        json{{"error",
              {{"code", 400}, {"message", "Invalid JSON payload"}, {"status", "INVALID_ARGUMENT"}}}}
            .dump());
    CHECK_FALSE(limit.key_invalid);
    CHECK(limit.scope == LimitScope::unknown);
    CHECK(limit.detail == "HTTP 400");
  }
}

TEST_CASE("read_provider_limit: OpenAI") {
  SUBCASE("insufficient_quota: billing, no retry helps") {
    const ProviderLimit limit = read(
        Protocol::openai, 429,
        R"({"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}})");
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.detail == "OpenAI insufficient_quota");
    CHECK_FALSE(limit.retry_after);
  }
  SUBCASE("rate_limit_exceeded: the spent bucket's reset") {
    const ProviderLimit limit = read(
        Protocol::openai_responses, 429,
        R"({"error":{"message":"Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.","type":"requests","param":null,"code":"rate_limit_exceeded"}})",
        {{"x-ratelimit-limit-requests", "3"},
         {"x-ratelimit-remaining-requests", "0"},
         {"x-ratelimit-reset-requests", "17.5s"},
         {"x-ratelimit-limit-tokens", "40000"},
         {"x-ratelimit-remaining-tokens", "39950"},
         {"x-ratelimit-reset-tokens", "75ms"}});
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.retry_after == after(18));
    CHECK(limit.detail == "OpenAI rate_limit_exceeded; requests remaining 0 of 3");
  }
  SUBCASE("a tokens limit with tokens left: the bucket the error type names") {
    const ProviderLimit limit = read(
        Protocol::openai, 429,
        R"({"error":{"message":"Request too large","type":"tokens","code":"rate_limit_exceeded"}})",
        {{"x-ratelimit-limit-requests", "500"},
         {"x-ratelimit-remaining-requests", "499"},
         {"x-ratelimit-reset-requests", "120ms"},
         {"x-ratelimit-limit-tokens", "30000"},
         {"x-ratelimit-remaining-tokens", "500"},
         {"x-ratelimit-reset-tokens", "6m0s"}});
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.retry_after == after(360));
    CHECK(limit.detail == "OpenAI rate_limit_exceeded; tokens remaining 500 of 30000");
  }
  SUBCASE("only the message's \"Please try again in\"") {
    const ProviderLimit limit = read(
        Protocol::openai, 429,
        R"({"error":{"message":"Rate limit reached. Please try again in 20ms.","code":"rate_limit_exceeded"}})");
    CHECK(limit.retry_after == after(1));
  }
  SUBCASE("a bare 429 with spent headers is a rate limit") {
    const ProviderLimit limit = read(Protocol::openai, 429, "Too Many Requests",
                                     {{"x-ratelimit-limit-requests", "60"},
                                      {"x-ratelimit-remaining-requests", "0"},
                                      {"x-ratelimit-reset-requests", "1s"}});
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.detail == "OpenAI requests remaining 0 of 60");
    CHECK(limit.retry_after == after(1));
  }
  SUBCASE("503 overloaded") {
    const ProviderLimit limit = read(
        Protocol::openai, 503,
        R"({"error":{"message":"The server is overloaded or not ready yet.","type":"server_error"}})");
    CHECK(limit.scope == LimitScope::capacity);
    CHECK(limit.detail == "OpenAI overloaded (HTTP 503)");
  }
  SUBCASE("401 invalid_api_key") {
    const ProviderLimit limit = read(
        Protocol::openai, 401,
        R"({"error":{"message":"Incorrect API key provided: sk-abc***wxyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}})");
    CHECK(limit.key_invalid);
    CHECK(limit.detail == "OpenAI invalid_api_key (HTTP 401)");
    CHECK(limit.detail.find("sk-") == std::string::npos);
  }
}

TEST_CASE("read_provider_limit: Anthropic") {
  const std::string rate_limited =
      R"({"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 50 requests per minute."}})";
  const Headers buckets = {{"anthropic-ratelimit-requests-limit", "50"},
                           {"anthropic-ratelimit-requests-remaining", "0"},
                           {"anthropic-ratelimit-requests-reset", "2026-03-05T07:00:30Z"},
                           {"anthropic-ratelimit-tokens-limit", "40000"},
                           {"anthropic-ratelimit-tokens-remaining", "38000"},
                           {"anthropic-ratelimit-tokens-reset", "2026-03-05T07:00:05Z"},
                           {"anthropic-ratelimit-input-tokens-limit", "30000"},
                           {"anthropic-ratelimit-input-tokens-remaining", "29000"},
                           {"anthropic-ratelimit-input-tokens-reset", "2026-03-05T07:00:05Z"}};
  SUBCASE("rate_limit_error with a Retry-After date") {
    Headers headers = buckets;
    headers["retry-after"] = "Thu, 05 Mar 2026 07:00:45 GMT";
    const ProviderLimit limit = read(Protocol::anthropic, 429, rate_limited, headers);
    CHECK(limit.scope == LimitScope::rate);
    CHECK(limit.retry_after == after(45));
    CHECK(limit.detail == "Anthropic rate_limit_error; requests remaining 0 of 50");
  }
  SUBCASE("rate_limit_error without Retry-After: the spent bucket's reset") {
    const ProviderLimit limit = read(Protocol::anthropic, 429, rate_limited, buckets);
    CHECK(limit.retry_after == after(30));
  }
  SUBCASE("resets with a fraction and an offset; two buckets spent, the later reset") {
    const ProviderLimit limit =
        read(Protocol::anthropic, 429, rate_limited,
             {{"anthropic-ratelimit-requests-remaining", "0"},
              {"anthropic-ratelimit-requests-reset", "2026-03-05T08:00:09.250+01:00"},
              {"anthropic-ratelimit-output-tokens-limit", "8000"},
              {"anthropic-ratelimit-output-tokens-remaining", "0"},
              {"anthropic-ratelimit-output-tokens-reset", "2026-03-05T06:59:00Z"}});
    CHECK(limit.retry_after == after(10));
    CHECK(limit.detail ==
          "Anthropic rate_limit_error; requests remaining 0, output-tokens remaining 0 of 8000");
  }
  SUBCASE("529 overloaded_error") {
    const ProviderLimit limit =
        read(Protocol::anthropic, 529,
             R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
    CHECK(limit.scope == LimitScope::capacity);
    CHECK(limit.detail == "Anthropic overloaded_error");
  }
  SUBCASE("a bare 529") {
    const ProviderLimit limit = read(Protocol::anthropic, 529, "<html>busy</html>");
    CHECK(limit.scope == LimitScope::capacity);
    CHECK(limit.detail == "Anthropic overloaded (HTTP 529)");
  }
  SUBCASE("a credit balance too low") {
    const ProviderLimit limit = read(
        Protocol::anthropic, 400,
        R"({"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}})");
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.detail == "Anthropic credit balance too low");
  }
  SUBCASE("401 authentication_error") {
    const ProviderLimit limit = read(
        Protocol::anthropic, 401,
        R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
    CHECK(limit.key_invalid);
    CHECK(limit.detail == "Anthropic authentication_error (HTTP 401)");
  }
}

TEST_CASE("read_provider_limit: Retry-After wins") {
  const std::string body = google_error(
      429, "RESOURCE_EXHAUSTED",
      {quota_failure("GenerateRequestsPerMinutePerProjectPerModel", "5"), retry_info("29s")});
  CHECK(read(Protocol::gemini, 429, body, {{"retry-after", "5"}}).retry_after == after(5));
  CHECK(read(Protocol::gemini, 429, body, {{"retry-after", "Thu, 05 Mar 2026 07:02:00 GMT"}})
            .retry_after == after(120));
  // A date in the past: retry now.
  CHECK(read(Protocol::gemini, 429, body, {{"retry-after", "Thu, 05 Mar 2026 06:00:00 GMT"}})
            .retry_after == after(0));
  // Unreadable: the body's delay.
  CHECK(read(Protocol::gemini, 429, body, {{"retry-after", "soon"}}).retry_after == after(29));
  // retry-after-ms (the OpenAI and Anthropic SDKs read it) before the body.
  CHECK(read(Protocol::gemini, 429, body, {{"retry-after-ms", "1500"}}).retry_after == after(2));
  CHECK(read(Protocol::gemini, 429, body, {{"retry-after", "3"}, {"retry-after-ms", "1500"}})
            .retry_after == after(3));
}

TEST_CASE("read_provider_limit: malformed and hostile bodies") {
  SUBCASE("nothing to read") {
    for (const char* body :
         {"", "not json", "{\"error\":", "null", "[]", "[1]", "{\"error\":\"slow down\"}",
          "{\"error\":[1,2]}", "{\"error\":{\"details\":\"x\"}}",
          "{\"error\":{\"details\":[1,null,{\"@type\":3}]}}",
          "{\"error\":{\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\","
          "\"violations\":{\"a\":1}}]}}",
          "{\"error\":{\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.QuotaFailure\","
          "\"violations\":[1,{\"quotaId\":5}]}]}}",
          "{\"error\":{\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\","
          "\"retryDelay\":29}]}}",
          "{\"error\":{\"code\":{},\"type\":[],\"message\":7}}"}) {
      CAPTURE(body);
      ProviderLimit limit;
      CHECK_NOTHROW(limit = read(Protocol::gemini, 429, body));
      CHECK(limit.scope == LimitScope::unknown);
      CHECK(limit.detail == "HTTP 429");
      CHECK_FALSE(limit.retry_after);
      CHECK_FALSE(limit.key_invalid);
    }
  }
  SUBCASE("a huge body is not parsed") {
    const std::string body =
        google_error(429, "RESOURCE_EXHAUSTED",
                     {quota_failure("GenerateRequestsPerDayPerProjectPerModel", "50")},
                     std::string(300 << 10, 'x'));
    CHECK(read(Protocol::gemini, 429, body).scope == LimitScope::unknown);
  }
  SUBCASE("deep nesting is dropped, not followed") {
    const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
    CHECK_NOTHROW(read(Protocol::gemini, 429, deep));
    const std::string nested = R"({"error":{"x":)" + std::string(10'000, '[') +
                               std::string(10'000, ']') + R"(,"type":"rate_limit_error"}})";
    CHECK(read(Protocol::anthropic, 429, nested).scope == LimitScope::rate);
  }
  SUBCASE("identifiers that are not identifiers are not quoted") {
    const ProviderLimit limit = read(
        Protocol::gemini, 429,
        google_error(429, "RESOURCE_EXHAUSTED",
                     {quota_failure("PerDay quota of key AIzaSyA-secret-key please", "50 or so")}));
    CHECK(limit.scope == LimitScope::quota);
    CHECK(limit.detail.find("AIza") == std::string::npos);
    CHECK(limit.detail == "quotaMetric generativelanguage.googleapis.com/"
                          "generate_content_free_tier_requests");
  }
  SUBCASE("absurd delays are ignored; bad headers too") {
    const ProviderLimit limit =
        read(Protocol::gemini, 429,
             google_error(429, "RESOURCE_EXHAUSTED",
                          {quota_failure("GenerateRequestsPerMinutePerProjectPerModel", "5"),
                           retry_info("99999999999999999999s")}),
             {{"x-ratelimit-remaining-requests", "-1"},
              {"x-ratelimit-reset-requests", "soon"},
              {"anthropic-ratelimit-requests-reset", "2026-02-30T00:00:00Z"},
              // Beyond the system clock's nanoseconds (once overflowed them), and the delays read.
              {"anthropic-ratelimit-tokens-remaining", "0"},
              {"anthropic-ratelimit-tokens-reset", "6128-03-05T08:00:09.250+01:00"},
              {"retry-after-ms", "lots"}});
    CHECK(limit.scope == LimitScope::rate);
    CHECK_FALSE(limit.retry_after);
  }
}

TEST_CASE("fake provider: limit keys answer in their provider's shape, whatever the path") {
  struct Row {
    const char* key;
    const char* path;
    int status;
    LimitScope scope;
    const char* detail;
    std::optional<long long> retry_after;
    bool key_invalid;
  };
  const Row table[] = {
      {"gday-key", "/v1/chat/completions", 429, LimitScope::quota,
       "quotaId GenerateRequestsPerDayPerProjectPerModel-FreeTier (limit 50)", 3600, false},
      {"gmin-key", "/v1beta/models/gemini-2.5-pro:generateContent", 429, LimitScope::rate,
       "quotaId GenerateRequestsPerMinutePerProjectPerModel-FreeTier (limit 15)", 7, false},
      {"gcap-key", "/v1beta/models/gemini-2.5-pro:streamGenerateContent", 429, LimitScope::capacity,
       "Gemini MODEL_CAPACITY_EXHAUSTED (model gemini-2.5-pro)", std::nullopt, false},
      {"gover-key", "/v1/messages", 503, LimitScope::capacity, "Gemini UNAVAILABLE (HTTP 503)",
       std::nullopt, false},
      {"ginv-key", "/v1beta/models/gemini-2.5-pro:generateContent", 400, LimitScope::unknown,
       "Gemini API_KEY_INVALID", std::nullopt, true},
      {"oquota-key", "/v1/messages", 429, LimitScope::quota, "OpenAI insufficient_quota",
       std::nullopt, false},
      {"orate-key", "/v1/responses", 429, LimitScope::rate,
       "OpenAI rate_limit_exceeded; requests remaining 0 of 3", 20, false},
      {"arate-key", "/v1/chat/completions", 429, LimitScope::rate,
       "Anthropic rate_limit_error; requests remaining 0 of 50", 30, false},
      {"aover-key", "/v1beta/models/gemini-2.5-pro:generateContent", 529, LimitScope::capacity,
       "Anthropic overloaded_error", std::nullopt, false},
      {"rl-key", "/v1/messages", 429, LimitScope::rate, "Anthropic rate_limit_error", 2, false},
  };
  agproxy::test::FakeProvider fake(2);
  httplib::Client client(fake.url());
  for (const Row& row : table) {
    CAPTURE(row.key);
    CAPTURE(row.path);
    const httplib::Result result = client.Post(row.path, {{"x-goog-api-key", row.key}},
                                               R"({"model":"m"})", "application/json");
    REQUIRE(result);
    CHECK(result->status == row.status);
    CHECK(result->get_header_value("Content-Type") == "application/json");
    const auto before = std::chrono::system_clock::now();
    const HeaderLookup lookup = [&](std::string_view name) {
      return result->get_header_value(std::string(name).c_str());
    };
    const ProviderLimit limit =
        read_provider_limit(Protocol::openai, result->status, lookup, result->body, before);
    CHECK(limit.scope == row.scope);
    CHECK(limit.detail == row.detail);
    CHECK(limit.key_invalid == row.key_invalid);
    if (row.retry_after && std::string_view(row.key).starts_with("arate-")) {
      // Dates have whole seconds: the answer's "30 s ahead" may read a second less.
      REQUIRE(limit.retry_after);
      CHECK(limit.retry_after->count() >= *row.retry_after - 1);
      CHECK(limit.retry_after->count() <= *row.retry_after);
    } else if (row.retry_after) {
      CHECK(limit.retry_after == after(*row.retry_after));
    } else {
      CHECK_FALSE(limit.retry_after);
    }
  }
  // The documented headers, as sent.
  const httplib::Result gemini =
      client.Post("/v1/chat/completions", {{"x-goog-api-key", "gmin-k"}}, "{}", "application/json");
  REQUIRE(gemini);
  CHECK_FALSE(gemini->has_header("Retry-After"));
  const httplib::Result openai = client.Post(
      "/v1/chat/completions", {{"Authorization", "Bearer orate-k"}}, "{}", "application/json");
  REQUIRE(openai);
  CHECK_FALSE(openai->has_header("Retry-After"));
  CHECK(openai->get_header_value("x-ratelimit-reset-requests") == "20s");
  CHECK(openai->get_header_value("x-ratelimit-remaining-tokens") == "39950");
  const httplib::Result anthropic =
      client.Post("/v1/messages", {{"x-api-key", "arate-k"}}, "{}", "application/json");
  REQUIRE(anthropic);
  CHECK(anthropic->get_header_value("Retry-After").ends_with(" GMT"));
  CHECK(anthropic->get_header_value("anthropic-ratelimit-requests-reset").ends_with("Z"));
  CHECK(anthropic->get_header_value("anthropic-ratelimit-output-tokens-remaining") == "8000");
}
