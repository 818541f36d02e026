#include "server/upstream/rate_limit.hpp"

#include "server/upstream/key_pool.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <nlohmann/json.hpp>
#include <vector>

namespace agproxy {

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

// Only this much of a body is parsed: a provider's error answer is a few KiB.
constexpr size_t k_max_body = 256 << 10;
// Values nested deeper than this are dropped while parsing (what is read lies 7 levels deep).
constexpr int k_max_depth = 16;
// The longest delay read (as parse_retry_after caps it: ~31 years).
constexpr long long k_max_delay_ms = 999'999'999'000LL;
// Identifiers from a body (quotaId, reason, code) longer than this are not quoted.
constexpr size_t k_max_token = 96;

// What the readers of a body and its headers found.
struct Reading {
  std::optional<LimitScope> scope;
  std::string detail;
  std::optional<milliseconds> delay; // from the body (RetryInfo, quotaResetDelay, …)
  bool key_invalid = false;
};

// One bucket of a provider's rate-limit headers ("requests", "tokens", …).
struct Bucket {
  std::string name;
  std::optional<long long> limit;
  std::optional<long long> remaining;
  std::optional<milliseconds> reset; // from now
};

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Return `value` when it is a string fit to quote as evidence: short, and made only of the
// characters of identifiers, model names and numbers; else "".
std::string token(const json* value) {
  if (value == nullptr || !value->is_string()) {
    return "";
  }
  const std::string& text = value->get_ref<const std::string&>();
  const bool fit = !text.empty() && text.size() <= k_max_token &&
                   std::all_of(text.begin(), text.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) ||
                            std::string_view("_-.:/@").find(c) != std::string_view::npos;
                   });
  return fit ? text : "";
}

// Return the string `value` holds, or "" (for matching only: never quoted).
std::string text_of(const json* value) {
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

const json* member(const json* object, const char* name) {
  if (object == nullptr || !object->is_object()) {
    return nullptr;
  }
  const auto found = object->find(name);
  return found == object->end() ? nullptr : &*found;
}

std::optional<long long> parse_count(std::string_view text) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  long long value = 0;
  for (char c : text) {
    value = value * 10 + (c - '0');
  }
  return value;
}

// Return a JSON value that is a count, as a number or as a string of digits ("50").
std::optional<long long> count_of(const json* value) {
  if (value != nullptr && value->is_number_unsigned()) {
    const auto number = value->get<unsigned long long>();
    return number <= 999'999'999'999'999'999ULL ? std::optional<long long>(number) : std::nullopt;
  }
  if (value != nullptr && value->is_number_integer()) {
    const auto number = value->get<long long>();
    return number >= 0 ? std::optional<long long>(number) : std::nullopt;
  }
  return parse_count(text_of(value));
}

// Return the time an RFC 3339 timestamp ("2026-01-02T03:04:05.678Z", "…+01:00") names, in
// milliseconds: the system clock's nanoseconds end in 2262.
std::optional<std::chrono::sys_time<milliseconds>> parse_rfc3339(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z or ±HH:MM.
  if (text.size() < 20 || text.size() > 40) {
    return std::nullopt;
  }
  const auto digits = [&](size_t at, size_t count) -> std::optional<int> {
    int value = 0;
    for (size_t i = at; i < at + count; ++i) {
      if (text[i] < '0' || text[i] > '9') {
        return std::nullopt;
      }
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2), hour = digits(11, 2),
             minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      std::string_view("Tt ").find(text[10]) == std::string_view::npos || text[13] != ':' ||
      text[16] != ':' || *hour > 23 || *minute > 59 || *second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) {
    return std::nullopt;
  }
  size_t at = 19;
  milliseconds fraction(0);
  if (text[at] == '.') {
    int scale = 100;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at) {
      fraction += milliseconds((text[at] - '0') * scale);
      scale /= 10;
    }
    if (at == 20) {
      return std::nullopt;
    }
  }
  std::chrono::minutes offset(0);
  const std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const auto zone_hour = digits(at + 1, 2), zone_minute = digits(at + 4, 2);
    if (!zone_hour || !zone_minute || *zone_hour > 23 || *zone_minute > 59) {
      return std::nullopt;
    }
    offset = std::chrono::minutes(*zone_hour * 60 + *zone_minute) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  return std::chrono::sys_days(date) + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
         std::chrono::seconds(*second) + fraction - offset;
}

// Return how long from `now` until `when`: none when it is past, nothing when it is further than
// any delay read.
std::optional<milliseconds> until(std::chrono::sys_time<milliseconds> when,
                                  std::chrono::system_clock::time_point now) {
  const auto delta = when - std::chrono::time_point_cast<milliseconds>(now);
  if (delta < milliseconds(0)) {
    return milliseconds(0);
  }
  return delta.count() > k_max_delay_ms ? std::nullopt : std::optional<milliseconds>(delta);
}

// Parse a body that may be an error answer: bounded in size and depth, never throwing.
json parse_body(std::string_view body) {
  if (body.size() > k_max_body) {
    return json();
  }
  json::parser_callback_t shallow = [](int depth, json::parse_event_t, json&) {
    return depth <= k_max_depth;
  };
  json doc = json::parse(body.begin(), body.end(), shallow, false);
  // Gemini's OpenAI-compatible endpoint wraps its error in an array.
  if (doc.is_array() && !doc.empty() && doc.front().is_object()) {
    return std::move(doc.front());
  }
  return doc.is_discarded() ? json() : doc;
}

// Google's errors (Gemini API, Vertex AI, Code Assist): {"error":{"code","status","message",
// "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",…},…]}}.
void read_google(const json* error, int status, std::chrono::system_clock::time_point now,
                 Reading& out) {
  const json* details = member(error, "details");
  const json* quota_failure = nullptr;
  const json* error_info = nullptr;
  const json* retry_info = nullptr;
  if (details != nullptr && details->is_array()) {
    for (const json& detail : *details) {
      const std::string type = text_of(member(&detail, "@type"));
      const json** slot = type.ends_with("google.rpc.QuotaFailure") ? &quota_failure
                          : type.ends_with("google.rpc.ErrorInfo")  ? &error_info
                          : type.ends_with("google.rpc.RetryInfo")  ? &retry_info
                                                                    : nullptr;
      if (slot != nullptr && *slot == nullptr) {
        *slot = &detail;
      }
    }
  }
  const json* metadata = member(error_info, "metadata");
  if (retry_info != nullptr) {
    out.delay = parse_duration(text_of(member(retry_info, "retryDelay")));
  }
  if (!out.delay) {
    out.delay = parse_duration(text_of(member(metadata, "quotaResetDelay")));
  }

  // The quota a QuotaFailure names says how long it lasts: a daily one outweighs the others.
  const json* violations = member(quota_failure, "violations");
  if (violations != nullptr && violations->is_array()) {
    const json* chosen = nullptr;
    bool daily = false;
    for (const json& violation : *violations) {
      const std::string id = text_of(member(&violation, "quotaId"));
      const bool this_daily =
          id.find("PerDay") != std::string::npos || id.find("Daily") != std::string::npos;
      if (chosen == nullptr || (this_daily && !daily)) {
        chosen = &violation;
        daily = this_daily;
      }
    }
    if (chosen != nullptr) {
      const std::string id = token(member(chosen, "quotaId"));
      const std::string metric = token(member(chosen, "quotaMetric"));
      const std::optional<long long> value = count_of(member(chosen, "quotaValue"));
      if (!id.empty()) {
        out.detail = "quotaId " + id;
      } else if (!metric.empty()) {
        out.detail = "quotaMetric " + metric;
      }
      if (!out.detail.empty() && value) {
        out.detail += " (limit " + std::to_string(*value) + ")";
      }
      const std::string raw_id = text_of(member(chosen, "quotaId"));
      if (daily) {
        out.scope = LimitScope::quota;
      } else if (raw_id.find("PerMinute") != std::string::npos ||
                 raw_id.find("PerSecond") != std::string::npos ||
                 raw_id.find("PerHour") != std::string::npos) {
        out.scope = LimitScope::rate;
      }
    }
  }

  const std::string reason = text_of(member(error_info, "reason"));
  const std::string model = token(member(metadata, "model"));
  const auto name_reason = [&] {
    if (out.detail.empty()) {
      out.detail = "Gemini " + reason + (model.empty() ? "" : " (model " + model + ")");
    }
  };
  if (reason == "API_KEY_INVALID") {
    out.key_invalid = true;
    name_reason();
  } else if (reason == "MODEL_CAPACITY_EXHAUSTED") {
    out.scope = LimitScope::capacity;
    out.detail.clear(); // the quota named, if any, is not what failed
    name_reason();
  } else if (reason == "QUOTA_EXHAUSTED" || reason == "INSUFFICIENT_G1_CREDITS_BALANCE") {
    out.scope = out.scope.value_or(LimitScope::quota);
    name_reason();
  } else if (reason == "RATE_LIMIT_EXCEEDED") {
    // A Google API's ErrorInfo names the quota in metadata.quota_limit.
    const std::string quota_limit = text_of(member(metadata, "quota_limit"));
    const bool daily = quota_limit.find("PerDay") != std::string::npos ||
                       quota_limit.find("Daily") != std::string::npos;
    out.scope = out.scope.value_or(daily ? LimitScope::quota : LimitScope::rate);
    if (const std::string named = token(member(metadata, "quota_limit"));
        out.detail.empty() && !named.empty()) {
      out.detail = "Gemini RATE_LIMIT_EXCEEDED (quota_limit " + named + ")";
    }
    name_reason();
  }
  if (!out.delay) {
    if (const auto when = parse_rfc3339(text_of(member(metadata, "quotaResetTimeStamp")))) {
      out.delay = until(*when, now);
    }
  }

  const std::string state = text_of(member(error, "status"));
  if (!out.scope && !out.key_invalid && state == "UNAVAILABLE") {
    out.scope = LimitScope::capacity;
    out.detail = "Gemini UNAVAILABLE (HTTP " + std::to_string(status) + ")";
  } else if (out.detail.empty() && !out.key_invalid && state == "RESOURCE_EXHAUSTED") {
    out.detail = "Gemini RESOURCE_EXHAUSTED";
  }
}

// OpenAI's errors: {"error":{"message","type","param","code"}}; a rate limit's type names the
// bucket ("requests", "tokens").
void read_openai(const json* error, Reading& out) {
  const std::string code = text_of(member(error, "code"));
  const std::string type = text_of(member(error, "type"));
  if (code == "insufficient_quota" || type == "insufficient_quota") {
    out.scope = LimitScope::quota;
    out.detail = "OpenAI insufficient_quota";
  } else if (code == "rate_limit_exceeded" || type == "requests" || type == "tokens") {
    out.scope = LimitScope::rate;
    out.detail = "OpenAI rate_limit_exceeded";
  }
}

// Anthropic's errors: {"type":"error","error":{"type":"rate_limit_error","message"}}.
void read_anthropic(const json* error, Reading& out) {
  const std::string type = text_of(member(error, "type"));
  if (type == "rate_limit_error") {
    out.scope = LimitScope::rate;
    out.detail = "Anthropic rate_limit_error";
  } else if (type == "overloaded_error") {
    out.scope = LimitScope::capacity;
    out.detail = "Anthropic overloaded_error";
  }
}

// Return the duration after "retry in " or "try again in " in a message ("Please retry in
// 58.2s.", "Please try again in 6m0s.").
std::optional<milliseconds> delay_in_message(const std::string& message) {
  for (std::string_view lead : {"retry in ", "try again in "}) {
    const size_t at = message.find(lead);
    if (at == std::string::npos) {
      continue;
    }
    size_t end = at + lead.size();
    while (end < message.size() && (std::isalnum(static_cast<unsigned char>(message[end])) ||
                                    (message[end] == '.' && end + 1 < message.size() &&
                                     std::isdigit(static_cast<unsigned char>(message[end + 1]))))) {
      ++end;
    }
    if (const auto delay = parse_duration(
            std::string_view(message).substr(at + lead.size(), end - at - lead.size()))) {
      return delay;
    }
  }
  return std::nullopt;
}

// Return the buckets of OpenAI's x-ratelimit-* and Anthropic's anthropic-ratelimit-* headers that
// were sent.
std::vector<Bucket> read_buckets(const HeaderLookup& headers,
                                 std::chrono::system_clock::time_point now, bool& anthropic) {
  std::vector<Bucket> buckets;
  for (const char* name : {"requests", "tokens"}) {
    const std::string suffix = std::string("-") + name;
    Bucket bucket{name, parse_count(headers("x-ratelimit-limit" + suffix)),
                  parse_count(headers("x-ratelimit-remaining" + suffix)),
                  parse_duration(headers("x-ratelimit-reset" + suffix))};
    if (bucket.limit || bucket.remaining || bucket.reset) {
      buckets.push_back(std::move(bucket));
    }
  }
  for (const char* name : {"requests", "tokens", "input-tokens", "output-tokens"}) {
    const std::string prefix = std::string("anthropic-ratelimit-") + name;
    Bucket bucket{name, parse_count(headers(prefix + "-limit")),
                  parse_count(headers(prefix + "-remaining")), std::nullopt};
    if (const auto when = parse_rfc3339(headers(prefix + "-reset"))) {
      bucket.reset = until(*when, now);
    }
    if (bucket.limit || bucket.remaining || bucket.reset) {
      anthropic = true;
      buckets.push_back(std::move(bucket));
    }
  }
  return buckets;
}

// Return the buckets that explain a limit: the used-up ones; else the one the error names; else
// the one with the least left.
std::vector<const Bucket*> spent_buckets(const std::vector<Bucket>& buckets,
                                         const std::string& named) {
  std::vector<const Bucket*> spent;
  for (const Bucket& bucket : buckets) {
    if (bucket.remaining == 0) {
      spent.push_back(&bucket);
    }
  }
  for (const Bucket& bucket : buckets) {
    if (spent.empty() && !named.empty() && bucket.name == named) {
      spent.push_back(&bucket);
    }
  }
  if (spent.empty()) {
    const Bucket* least = nullptr;
    double least_left = 2;
    for (const Bucket& bucket : buckets) {
      if (bucket.remaining && bucket.limit && *bucket.limit > 0) {
        const double left =
            static_cast<double>(*bucket.remaining) / static_cast<double>(*bucket.limit);
        if (left < least_left) {
          least = &bucket;
          least_left = left;
        }
      }
    }
    if (least != nullptr) {
      spent.push_back(least);
    }
  }
  return spent;
}

std::string_view provider_name(Protocol protocol) {
  switch (protocol) {
  case Protocol::anthropic:
    return "Anthropic";
  case Protocol::gemini:
    return "Gemini";
  case Protocol::openai:
  case Protocol::openai_responses:
    break;
  }
  return "OpenAI";
}

} // namespace

std::string_view to_string(LimitScope scope) {
  switch (scope) {
  case LimitScope::quota:
    return "quota";
  case LimitScope::rate:
    return "rate";
  case LimitScope::capacity:
    return "capacity";
  case LimitScope::unknown:
    break;
  }
  return "unknown";
}

std::optional<milliseconds> parse_duration(std::string_view text) {
  // Units in nanoseconds, longest spelling first so that "ms" is not read as "m".
  struct Unit {
    std::string_view name;
    long long ns;
  };
  static constexpr std::array<Unit, 8> k_units{{{"ns", 1},
                                                {"us", 1'000},
                                                {"\xC2\xB5s", 1'000}, // µs, micro sign
                                                {"\xCE\xBCs", 1'000}, // μs, Greek mu
                                                {"ms", 1'000'000},
                                                {"h", 3'600'000'000'000},
                                                {"m", 60'000'000'000},
                                                {"s", 1'000'000'000}}};
  constexpr long long k_max_ns = k_max_delay_ms * 1'000'000;
  if (text.empty() || text.size() > 64) {
    return std::nullopt;
  }
  if (text == "0") {
    return milliseconds(0);
  }
  long long total_ns = 0;
  size_t at = 0;
  while (at < text.size()) {
    long long whole = 0;
    size_t start = at;
    for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at) {
      if (whole > k_max_ns / 10) {
        return std::nullopt;
      }
      whole = whole * 10 + (text[at] - '0');
    }
    const bool has_whole = at > start;
    long long fraction = 0;
    int fraction_digits = 0;
    if (at < text.size() && text[at] == '.') {
      for (start = ++at; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at) {
        if (fraction_digits < 9) { // finer than a nanosecond is dropped
          fraction = fraction * 10 + (text[at] - '0');
          ++fraction_digits;
        }
      }
      if (at == start) {
        return std::nullopt;
      }
    }
    if (!has_whole && fraction_digits == 0) {
      return std::nullopt;
    }
    const Unit* unit = nullptr;
    for (const Unit& candidate : k_units) {
      if (text.substr(at).starts_with(candidate.name)) {
        unit = &candidate;
        break;
      }
    }
    if (unit == nullptr || whole > k_max_ns / unit->ns) {
      return std::nullopt;
    }
    at += unit->name.size();
    total_ns += whole * unit->ns;
    if (fraction_digits > 0) {
      total_ns += std::llround(static_cast<long double>(fraction) * unit->ns /
                               std::pow(10.0L, fraction_digits));
    }
    if (total_ns > k_max_ns) {
      return std::nullopt;
    }
  }
  return milliseconds((total_ns + 999'999) / 1'000'000);
}

ProviderLimit read_provider_limit(Protocol protocol, int status, const HeaderLookup& headers,
                                  std::string_view body,
                                  std::chrono::system_clock::time_point now) {
  ProviderLimit limit;
  Reading reading;
  const json doc = parse_body(body);
  const json* error = member(&doc, "error");
  if (error != nullptr && !error->is_object()) {
    error = nullptr;
  }
  std::string message = text_of(member(error, "message"));
  if (message.empty()) {
    message = text_of(member(&doc, "error"));
  }
  message = lower(message);

  read_google(error, status, now, reading);
  if (!reading.scope) {
    read_openai(error, reading);
  }
  if (!reading.scope) {
    read_anthropic(error, reading);
  }

  // What only a message says.
  if (message.find("api key not valid") != std::string::npos) {
    reading.key_invalid = true;
  }
  if (!reading.scope) {
    if (message.find("no capacity available for model") != std::string::npos) {
      reading.scope = LimitScope::capacity;
      reading.detail = std::string(provider_name(protocol)) + " no capacity for the model";
    } else if (message.find("credit balance is too low") != std::string::npos) {
      reading.scope = LimitScope::quota;
      reading.detail = std::string(provider_name(protocol)) + " credit balance too low";
    } else if (status == 529 || ((status == 503 || status == 429) &&
                                 message.find("overloaded") != std::string::npos)) {
      reading.scope = LimitScope::capacity;
      reading.detail = std::string(provider_name(protocol)) + " overloaded (HTTP " +
                       std::to_string(status) + ")";
    }
  }

  bool anthropic_headers = false;
  const std::vector<Bucket> buckets = read_buckets(headers, now, anthropic_headers);
  const std::string error_type = text_of(member(error, "type"));
  const std::vector<const Bucket*> spent = spent_buckets(buckets, error_type);
  if (!reading.scope && status == 429 && !spent.empty() && spent.front()->remaining == 0) {
    reading.scope = LimitScope::rate;
  }
  std::string buckets_text;
  for (const Bucket* bucket : spent) {
    if (!bucket->remaining) {
      continue;
    }
    buckets_text += (buckets_text.empty() ? "" : ", ") + bucket->name + " remaining " +
                    std::to_string(*bucket->remaining) +
                    (bucket->limit ? " of " + std::to_string(*bucket->limit) : "");
  }
  if (!buckets_text.empty()) {
    reading.detail = reading.detail.empty()
                         ? (anthropic_headers ? "Anthropic " : "OpenAI ") + buckets_text
                         : reading.detail + "; " + buckets_text;
  }

  limit.key_invalid = reading.key_invalid || status == 401 || status == 403;
  if (limit.key_invalid && reading.detail.empty()) {
    const std::string code = token(member(error, "code")).empty() ? token(member(error, "type"))
                                                                  : token(member(error, "code"));
    const std::string state = token(member(error, "status"));
    const std::string named = !state.empty() && protocol == Protocol::gemini ? state : code;
    reading.detail = std::string(provider_name(protocol)) + (named.empty() ? "" : " " + named) +
                     " (HTTP " + std::to_string(status) + ")";
  }
  limit.scope = reading.scope.value_or(LimitScope::unknown);
  limit.detail = reading.detail.empty() ? "HTTP " + std::to_string(status) : reading.detail;

  // Retry-After first, then the provider's own delays: the body's, the headers' resets, a
  // message's "retry in".
  std::optional<milliseconds> delay;
  if (const auto after = parse_retry_after(headers("Retry-After"), now)) {
    delay = *after;
  }
  if (!delay) {
    delay = parse_duration(headers("retry-after-ms") + "ms");
  }
  if (!delay) {
    delay = reading.delay;
  }
  if (!delay) {
    for (const Bucket* bucket : spent) {
      if (bucket->reset) {
        delay = std::max(delay.value_or(milliseconds(0)), *bucket->reset);
      }
    }
  }
  if (!delay) {
    for (const Bucket& bucket : buckets) {
      if (bucket.reset) {
        delay = std::max(delay.value_or(milliseconds(0)), *bucket.reset);
      }
    }
  }
  if (!delay) {
    delay = delay_in_message(message);
  }
  if (delay) {
    limit.retry_after = std::chrono::ceil<std::chrono::seconds>(*delay);
  }
  return limit;
}

} // namespace agproxy
