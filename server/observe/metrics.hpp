#pragma once

#include "server/auth/auth.hpp"
#include "server/protocols/protocol.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// The counters behind GET /metrics (DESIGN §7). Counting is a relaxed atomic add on counters the
// counting thread mostly owns (one shard per event-loop thread), merged only when read, so the
// request path takes no lock and shares no cache line with the other loops.
namespace agproxy {

// Bucket bounds (seconds) of the duration histograms.
inline constexpr std::array<double, 14> k_duration_buckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

// A histogram of durations: counts per bucket (not cumulative; the last one is +Inf) and the sum.
struct Histogram {
  std::array<std::atomic<uint64_t>, k_duration_buckets.size() + 1> buckets{};
  std::atomic<uint64_t> sum_us{0};
  void observe(std::chrono::steady_clock::duration duration);
};

// Why a provider request was tried again with another key.
enum class RetryCause { rate_limited, key_refused, server_error, unreachable };
// Which tokens a provider counted.
enum class TokenKind { input, output, cached, reasoning };

// One upstream's counters; a reload that keeps the upstream's name keeps them.
struct UpstreamStats {
  std::array<std::atomic<uint64_t>, 500> by_status{}; // index: status - 100
  std::array<std::atomic<uint64_t>, 4> retries{};     // by RetryCause
  std::array<std::atomic<uint64_t>, 4> tokens{};      // by TokenKind
  std::atomic<uint64_t> failures{0}; // answers that were not 2xx, and attempts that got none
  std::atomic<int> last_status{0};   // 0: none yet
  Histogram time_to_first_byte;

  // Count a provider answer of `status`.
  void count(int status);
  // Count an attempt that got no answer (unreachable, timeout, TLS).
  void count_failure() { failures.fetch_add(1, std::memory_order_relaxed); }
  void count_retry(RetryCause cause) {
    retries[static_cast<size_t>(cause)].fetch_add(1, std::memory_order_relaxed);
  }
  void count_tokens(TokenKind kind, long long n);
  // Return the answers counted with `status`.
  uint64_t answered(int status) const;
  // Return every answer counted.
  uint64_t requests() const;
};

// What /metrics shows besides the gateway's counters, read from their owners when scraped.
struct LiveState {
  size_t open_connections = 0;
  size_t blocked_clients = 0;
  struct Upstream {
    std::string name;
    std::shared_ptr<const UpstreamStats> stats;
    size_t active = 0, resting = 0, out = 0; // its keys by state
  };
  std::vector<Upstream> upstreams;
};

class Metrics {
public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Count an answered request on the routes of `family` (nothing: not a provider route).
  void count_request(std::optional<Protocol> family, int status,
                     std::chrono::steady_clock::duration duration);
  // Count a 401 of the proxy, by reason and the header the key was read from.
  void count_denial(DenyReason reason, std::optional<KeyHeader> header);
  // Count a request the brute-force guard refused.
  void count_throttled();
  // Count a request translated from `client` to `upstream`.
  void count_translation(Protocol client, Protocol upstream);
  // Count a config reload that `ok` took effect (or was refused).
  void count_reload(bool ok);
  // The streams open now (answers sent as they come).
  std::atomic<int64_t> open_streams{0};

  // Return the Prometheus text exposition (format 0.0.4) of every counter and of `live`.
  std::string render(const LiveState& live) const;

  // Return the denials counted for `reason`, over every header.
  uint64_t denials(DenyReason reason) const;

private:
  struct Shard;
  Shard& shard();

  std::unique_ptr<Shard[]> m_shards;
  std::atomic<size_t> m_next_shard{0};
  std::array<std::atomic<uint64_t>, 2> m_reloads{}; // error, ok
};

} // namespace agproxy
