#include "server/observe/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace agproxy {

namespace {

constexpr auto k_relaxed = std::memory_order_relaxed;
constexpr size_t k_shards = 16;
// Request families: the four provider families, then "none" (the proxy's own routes).
constexpr size_t k_families = 5;
constexpr std::array<Protocol, 4> k_protocols = {Protocol::openai, Protocol::openai_responses,
                                                 Protocol::anthropic, Protocol::gemini};
constexpr std::array<DenyReason, 4> k_deny_reasons = {
    DenyReason::missing_api_key, DenyReason::invalid_api_key, DenyReason::malformed_authorization,
    DenyReason::proxy_api_key_empty};

size_t status_index(int status) {
  return static_cast<size_t>(std::clamp(status, 100, 599) - 100);
}

size_t family_index(std::optional<Protocol> family) {
  return family ? static_cast<size_t>(*family) : k_families - 1;
}

std::string family_name(size_t index) {
  return index < k_protocols.size() ? std::string(to_string(k_protocols[index])) : "none";
}

// Return `value` escaped for a label value (backslash, quote, newline).
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", value);
  return buffer;
}

// Writes the exposition, family by family: HELP and TYPE once, then the samples.
class Exposition {
public:
  void family(const char* name, const char* type, const char* help) {
    m_text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void sample(std::string_view name, const std::string& labels, const std::string& value) {
    m_text += name;
    if (!labels.empty()) {
      m_text += "{" + labels + "}";
    }
    m_text += " " + value + "\n";
  }
  void sample(std::string_view name, const std::string& labels, uint64_t value) {
    sample(name, labels, std::to_string(value));
  }
  // Write histogram `name` from per-bucket counts (the last one +Inf) and a sum in microseconds.
  void histogram(const std::string& name, const std::string& labels,
                 const std::array<uint64_t, k_duration_buckets.size() + 1>& counts,
                 uint64_t sum_us) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      const std::string bound =
          i < k_duration_buckets.size() ? number(k_duration_buckets[i]) : "+Inf";
      sample(name + "_bucket", prefix + "le=\"" + bound + "\"", cumulative);
    }
    sample(name + "_sum", labels, number(static_cast<double>(sum_us) / 1e6));
    sample(name + "_count", labels, cumulative);
  }
  std::string take() { return std::move(m_text); }

private:
  std::string m_text;
};

std::array<uint64_t, k_duration_buckets.size() + 1> counts_of(const Histogram& histogram) {
  std::array<uint64_t, k_duration_buckets.size() + 1> counts{};
  for (size_t i = 0; i < counts.size(); ++i) {
    counts[i] = histogram.buckets[i].load(k_relaxed);
  }
  return counts;
}

} // namespace

void Histogram::observe(std::chrono::steady_clock::duration duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  const size_t bucket =
      std::lower_bound(k_duration_buckets.begin(), k_duration_buckets.end(), seconds) -
      k_duration_buckets.begin();
  buckets[bucket].fetch_add(1, k_relaxed);
  sum_us.fetch_add(static_cast<uint64_t>(std::max<int64_t>(
                       0, std::chrono::duration_cast<std::chrono::microseconds>(duration).count())),
                   k_relaxed);
}

void UpstreamStats::count(int status) {
  by_status[status_index(status)].fetch_add(1, k_relaxed);
  last_status.store(status, k_relaxed);
  if (status < 200 || status >= 300) {
    failures.fetch_add(1, k_relaxed);
  }
}

void UpstreamStats::count_tokens(TokenKind kind, long long n) {
  if (n > 0) {
    tokens[static_cast<size_t>(kind)].fetch_add(static_cast<uint64_t>(n), k_relaxed);
  }
}

uint64_t UpstreamStats::answered(int status) const {
  return by_status[status_index(status)].load(k_relaxed);
}

uint64_t UpstreamStats::requests() const {
  uint64_t total = 0;
  for (const auto& count : by_status) {
    total += count.load(k_relaxed);
  }
  return total;
}

struct alignas(64) Metrics::Shard {
  std::array<std::array<std::atomic<uint64_t>, 500>, k_families> requests{};
  std::array<Histogram, k_families> durations{};
  std::array<std::array<std::atomic<uint64_t>, 4>, 4> denials{}; // reason, header (+ none)
  std::atomic<uint64_t> throttled{0};
  std::array<std::array<std::atomic<uint64_t>, 4>, 4> translations{}; // client, upstream
};

Metrics::Metrics() : m_shards(std::make_unique<Shard[]>(k_shards)) {}

Metrics::~Metrics() = default;

Metrics::Shard& Metrics::shard() {
  // Each thread keeps to one shard; event-loop threads are few, so each has its own.
  static std::atomic<size_t> next_thread{0};
  thread_local const size_t index = next_thread.fetch_add(1, k_relaxed) % k_shards;
  return m_shards[index];
}

void Metrics::count_request(std::optional<Protocol> family, int status,
                            std::chrono::steady_clock::duration duration) {
  Shard& mine = shard();
  const size_t index = family_index(family);
  mine.requests[index][status_index(status)].fetch_add(1, k_relaxed);
  mine.durations[index].observe(duration);
}

void Metrics::count_denial(DenyReason reason, std::optional<KeyHeader> header) {
  const auto it = std::find(k_deny_reasons.begin(), k_deny_reasons.end(), reason);
  if (it == k_deny_reasons.end()) {
    return;
  }
  const size_t column = header ? static_cast<size_t>(*header) : 3;
  shard().denials[it - k_deny_reasons.begin()][column].fetch_add(1, k_relaxed);
}

void Metrics::count_throttled() {
  shard().throttled.fetch_add(1, k_relaxed);
}

void Metrics::count_translation(Protocol client, Protocol upstream) {
  shard().translations[static_cast<size_t>(client)][static_cast<size_t>(upstream)].fetch_add(
      1, k_relaxed);
}

void Metrics::count_reload(bool ok) {
  m_reloads[ok ? 1 : 0].fetch_add(1, k_relaxed);
}

uint64_t Metrics::denials(DenyReason reason) const {
  const auto it = std::find(k_deny_reasons.begin(), k_deny_reasons.end(), reason);
  uint64_t total = 0;
  for (size_t s = 0; it != k_deny_reasons.end() && s < k_shards; ++s) {
    for (const auto& count : m_shards[s].denials[it - k_deny_reasons.begin()]) {
      total += count.load(k_relaxed);
    }
  }
  return total;
}

std::string Metrics::render(const LiveState& live) const {
  Exposition out;
  const auto sum = [&](auto&& read) {
    uint64_t total = 0;
    for (size_t s = 0; s < k_shards; ++s) {
      total += read(m_shards[s]);
    }
    return total;
  };

  out.family("agproxy_requests_total", "counter",
             "Requests answered, by API family of the route and HTTP status.");
  for (size_t f = 0; f < k_families; ++f) {
    for (size_t i = 0; i < 500; ++i) {
      const uint64_t n = sum([&](const Shard& s) { return s.requests[f][i].load(k_relaxed); });
      if (n != 0) {
        out.sample("agproxy_requests_total",
                   "family=\"" + family_name(f) + "\",status=\"" + std::to_string(i + 100) + "\"",
                   n);
      }
    }
  }
  out.family("agproxy_request_duration_seconds", "histogram",
             "Time from a request's first byte to its answer's last, by API family.");
  for (size_t f = 0; f < k_families; ++f) {
    std::array<uint64_t, k_duration_buckets.size() + 1> counts{};
    uint64_t sum_us = 0;
    for (size_t s = 0; s < k_shards; ++s) {
      const auto shard_counts = counts_of(m_shards[s].durations[f]);
      for (size_t i = 0; i < counts.size(); ++i) {
        counts[i] += shard_counts[i];
      }
      sum_us += m_shards[s].durations[f].sum_us.load(k_relaxed);
    }
    out.histogram("agproxy_request_duration_seconds", "family=\"" + family_name(f) + "\"", counts,
                  sum_us);
  }
  out.family("agproxy_auth_denials_total", "counter",
             "Requests the proxy answered 401, by reason and the header the key was read from.");
  for (size_t r = 0; r < k_deny_reasons.size(); ++r) {
    for (size_t h = 0; h < 4; ++h) {
      const uint64_t n = sum([&](const Shard& s) { return s.denials[r][h].load(k_relaxed); });
      const std::string header =
          h < k_key_headers.size() ? std::string(header_name(k_key_headers[h])) : "none";
      out.sample("agproxy_auth_denials_total",
                 "reason=\"" + std::string(to_string(k_deny_reasons[r])) + "\",header=\"" + header +
                     "\"",
                 n);
    }
  }
  out.family("agproxy_auth_throttled_total", "counter",
             "Requests the brute-force guard refused with 429 (proxy.auth_throttle).");
  out.sample("agproxy_auth_throttled_total", "",
             sum([](const Shard& s) { return s.throttled.load(k_relaxed); }));
  out.family("agproxy_auth_blocked_clients", "gauge",
             "Client addresses the brute-force guard refuses now.");
  out.sample("agproxy_auth_blocked_clients", "", live.blocked_clients);

  out.family("agproxy_translations_total", "counter",
             "Requests translated between API families, by direction (client->upstream).");
  for (Protocol client : k_protocols) {
    for (Protocol upstream : k_protocols) {
      const uint64_t n = sum([&](const Shard& s) {
        return s.translations[static_cast<size_t>(client)][static_cast<size_t>(upstream)].load(
            k_relaxed);
      });
      if (n != 0) {
        out.sample("agproxy_translations_total",
                   "direction=\"" + std::string(to_string(client)) + "->" +
                       std::string(to_string(upstream)) + "\"",
                   n);
      }
    }
  }

  out.family("agproxy_upstream_requests_total", "counter",
             "Provider answers, by upstream and HTTP status (every attempt, retries included).");
  for (const LiveState::Upstream& upstream : live.upstreams) {
    const std::string& name = upstream.name;
    const UpstreamStats* stats = upstream.stats.get();
    for (size_t i = 0; i < stats->by_status.size(); ++i) {
      if (const uint64_t n = stats->by_status[i].load(k_relaxed)) {
        out.sample("agproxy_upstream_requests_total",
                   "upstream=\"" + label(name) + "\",status=\"" + std::to_string(i + 100) + "\"",
                   n);
      }
    }
  }
  out.family("agproxy_upstream_retries_total", "counter",
             "Provider requests tried again with another key, by upstream and cause.");
  static constexpr const char* k_causes[] = {"rate_limited", "key_refused", "server_error",
                                             "unreachable"};
  for (const LiveState::Upstream& upstream : live.upstreams) {
    const std::string& name = upstream.name;
    const UpstreamStats* stats = upstream.stats.get();
    for (size_t c = 0; c < 4; ++c) {
      out.sample("agproxy_upstream_retries_total",
                 "upstream=\"" + label(name) + "\",cause=\"" + k_causes[c] + "\"",
                 stats->retries[c].load(k_relaxed));
    }
  }
  out.family("agproxy_upstream_keys", "gauge",
             "Provider keys by upstream and state: active, resting (rate-limited) or out "
             "(refused by the provider).");
  for (const LiveState::Upstream& upstream : live.upstreams) {
    const std::string labels = "upstream=\"" + label(upstream.name) + "\",state=";
    out.sample("agproxy_upstream_keys", labels + "\"active\"", upstream.active);
    out.sample("agproxy_upstream_keys", labels + "\"resting\"", upstream.resting);
    out.sample("agproxy_upstream_keys", labels + "\"out\"", upstream.out);
  }
  out.family(
      "agproxy_tokens_total", "counter",
      "Tokens the providers counted, by upstream and kind (the usage their answers and streams "
      "report).");
  static constexpr const char* k_kinds[] = {"input", "output", "cached", "reasoning"};
  for (const LiveState::Upstream& upstream : live.upstreams) {
    const std::string& name = upstream.name;
    const UpstreamStats* stats = upstream.stats.get();
    for (size_t k = 0; k < 4; ++k) {
      out.sample("agproxy_tokens_total",
                 "upstream=\"" + label(name) + "\",kind=\"" + k_kinds[k] + "\"",
                 stats->tokens[k].load(k_relaxed));
    }
  }
  out.family("agproxy_upstream_ttfb_seconds", "histogram",
             "Time from sending a provider request to its answer's headers, by upstream.");
  for (const LiveState::Upstream& upstream : live.upstreams) {
    const std::string& name = upstream.name;
    const UpstreamStats* stats = upstream.stats.get();
    out.histogram("agproxy_upstream_ttfb_seconds", "upstream=\"" + label(name) + "\"",
                  counts_of(stats->time_to_first_byte),
                  stats->time_to_first_byte.sum_us.load(k_relaxed));
  }

  out.family("agproxy_open_connections", "gauge", "Client connections open now.");
  out.sample("agproxy_open_connections", "", live.open_connections);
  out.family("agproxy_open_streams", "gauge", "Answers being streamed to clients now.");
  out.sample("agproxy_open_streams", "",
             static_cast<uint64_t>(std::max<int64_t>(0, open_streams.load(k_relaxed))));
  out.family("agproxy_config_reloads_total", "counter",
             "Config file reloads, by result: ok (took effect) or error (refused).");
  out.sample("agproxy_config_reloads_total", "result=\"ok\"", m_reloads[1].load(k_relaxed));
  out.sample("agproxy_config_reloads_total", "result=\"error\"", m_reloads[0].load(k_relaxed));
  return out.take();
}

} // namespace agproxy
