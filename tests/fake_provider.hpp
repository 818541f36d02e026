#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace agproxy::test {

// What the fake provider saw of one request.
struct SeenRequest {
  std::string method;
  std::string path;
  std::string target; // the request target as sent: path and query, still percent-encoded
  std::string query;
  std::map<std::string, std::string> headers; // names lowercased
  std::string body;
};

// A provider for tests only, on an ephemeral loopback port. What it does is scripted by the
// request: the provider key ("rl-…" answers 429 with Retry-After 2, "bad-…" 401, "down-…" 500),
// and the model (from the JSON body, or the Gemini path). Keys that script a provider's limit
// answer in that provider's shape whatever the path, as server/upstream/rate_limit.hpp reads them:
//   "gday-…"   Gemini 429 RESOURCE_EXHAUSTED: QuotaFailure quotaId
//              GenerateRequestsPerDayPerProjectPerModel-FreeTier, quotaValue "50", RetryInfo
//              "3600s"; no Retry-After
//   "gmin-…"   the same per minute: GenerateRequestsPerMinutePerProjectPerModel-FreeTier, "15",
//              RetryInfo "7s"; no Retry-After
//   "gcap-…"   Gemini (Code Assist) 429: ErrorInfo MODEL_CAPACITY_EXHAUSTED, model gemini-2.5-pro
//   "gover-…"  Gemini 503 UNAVAILABLE, "The model is overloaded"
//   "ginv-…"   Gemini 400 INVALID_ARGUMENT: ErrorInfo API_KEY_INVALID, "API key not valid"
//   "oquota-…" OpenAI 429 insufficient_quota
//   "orate-…"  OpenAI 429 rate_limit_exceeded (type "requests"), x-ratelimit-*-requests 3 / 0 /
//              "20s" and -tokens 40000 / 39950 / "75ms"; no Retry-After
//   "arate-…"  Anthropic 429 rate_limit_error, Retry-After an HTTP date 30 s ahead,
//              anthropic-ratelimit-requests-* 50 / 0 / 30 s ahead (RFC 3339), -tokens-*,
//              -input-tokens-* and -output-tokens-* with some left
//   "aover-…"  Anthropic 529 overloaded_error
// The models:
//   "sse-N-MS"      N events MS ms apart, each "data: {\"i\":k,\"sent_us\":…}"
//   "reset-N"       N events 20 ms apart, then the connection is reset
//   "stall"         one event, then silence for 30 s
//   "slow-MS"       headers only after MS ms
//   "error-body-N"  503 with an N-byte text/html body
//   "big-N"         200 with an N-byte body of "0123456789" repeated
//   "scripted…"     the provider's own wire protocol, written apart from agproxy's translators
//                   (tests/fake_protocols.hpp): a tool call for a "CALL_TOOL name {args}" line,
//                   an answer that quotes a tool result once its history checks out (else the
//                   provider's 400), otherwise "scripted: " and the last user text
//   anything else   the protocol's own answer shape, echoing the last user message
// It records every request's headers (also served as JSON at GET /_fake/requests), and when a
// stream's client went away.
class FakeProvider {
public:
  // Start on an ephemeral port with `threads` workers (each live stream holds one).
  explicit FakeProvider(size_t threads = 16);
  ~FakeProvider();
  FakeProvider(const FakeProvider&) = delete;
  FakeProvider& operator=(const FakeProvider&) = delete;

  // Return "http://127.0.0.1:PORT".
  std::string url() const;
  // Return the requests seen so far.
  std::vector<SeenRequest> requests() const;
  // Return how many streams ended because the reader went away.
  int cancelled_streams() const;
  // Return when the last stream was cancelled (steady clock).
  std::chrono::steady_clock::time_point last_cancel() const;

private:
  struct State;
  std::shared_ptr<State> m_state;
};

} // namespace agproxy::test
