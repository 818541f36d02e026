#include "server/upstream/forward.hpp"

#include "server/auth/secret.hpp"
#include "server/protocols/echo.hpp"
#include "server/protocols/respond.hpp"
#include "server/protocols/sse.hpp"
#include "server/protocols/translate.hpp"
#include "server/text.hpp"
#include "server/upstream/key_pool.hpp"
#include "server/upstream/rate_limit.hpp"
#include "server/upstream/routing.hpp"
#include "server/upstream/upstream_transfer.hpp"

#include <algorithm>
#include <cctype>
#include <httplib.h>
#include <vector>

namespace agproxy {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto k_default_rate_limit_rest = std::chrono::seconds(30);
// A quota (daily, or the account's credit) that did not say when it resets.
constexpr auto k_default_quota_rest = std::chrono::minutes(10);
constexpr auto k_refused_key_rest = std::chrono::minutes(10);
// How long the error body of a 429 (or a Gemini 400) may take: it tells what kind of limit it is,
// or that the key is invalid, before the next key is tried.
constexpr auto k_max_inspect_time = std::chrono::seconds(5);
constexpr auto k_heartbeat = std::chrono::milliseconds(400);
// Bodies up to this size with a Content-Length are passed on whole (with their length).
constexpr size_t k_max_buffered_body = 1 << 20;
// A provider's error body larger than this is not passed on.
constexpr size_t k_max_error_body = 256 << 10;
// A provider's whole answer to a translated request is read before it is rewritten; one larger
// than this is not a chat answer.
constexpr size_t k_max_translated_answer = 32 << 20;

std::string last4(const std::string& key) {
  return "…" + (key.size() >= 8 ? key.substr(key.size() - 4) : std::string());
}

std::string configured_models(const RuntimeConfig& config) {
  std::string out;
  for (const ListedModel& model : config.models) {
    out += (out.empty() ? "" : ", ") + model.id;
  }
  for (const Upstream& upstream : config.upstreams) {
    for (const std::string& pattern : upstream.models) {
      if (pattern.find_first_of("*?") != std::string::npos) {
        out += (out.empty() ? "" : ", ") + pattern;
      }
    }
  }
  return out.empty() ? "none" : out;
}

// Return the upstream URL: `base`'s path, then the client's `path` as sent (safe_request_path()
// has refused anything that could climb above it), then `base`'s own query and the client's.
std::string join_url(std::string_view base, std::string_view path, std::string_view query) {
  const size_t mark = base.find('?');
  std::string url(base.substr(0, mark));
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  url += path;
  std::string_view base_query = mark == std::string_view::npos ? "" : base.substr(mark + 1);
  if (!base_query.empty() || !query.empty()) {
    url += '?';
    url += base_query;
    url += !base_query.empty() && !query.empty() ? "&" : "";
    url += query;
  }
  return url;
}

// Reads the tokens a stream passed through untranslated reports: its events are framed as they
// pass, and only those that mention usage are parsed.
class StreamUsage {
public:
  explicit StreamUsage(Protocol protocol) : m_family(family_of(protocol)) {}
  void feed(std::string_view bytes) {
    m_events.clear();
    m_parser.feed(bytes, m_events);
    take();
  }
  // Return the tokens of the whole stream, once it ended.
  const ir::Usage& finish() {
    m_events.clear();
    m_parser.finish(m_events);
    take();
    return m_usage;
  }

private:
  void take() {
    for (const SseEvent& event : m_events) {
      if (event.data.find("sage") == std::string::npos) { // usage, usageMetadata
        continue;
      }
      const ir::json data = ir::json::parse(event.data, nullptr, false);
      const std::optional<ir::Usage> seen =
          data.is_object() ? m_family.read_event_usage(data) : std::nullopt;
      if (!seen) {
        continue;
      }
      // Later counts are the whole so far; a count an event leaves out stays as it was.
      m_usage.input = seen->input != 0 ? seen->input : m_usage.input;
      m_usage.output = seen->output != 0 ? seen->output : m_usage.output;
      m_usage.cached = seen->cached != 0 ? seen->cached : m_usage.cached;
      m_usage.reasoning = seen->reasoning != 0 ? seen->reasoning : m_usage.reasoning;
    }
  }

  const Family& m_family;
  SseParser m_parser;
  std::vector<SseEvent> m_events;
  ir::Usage m_usage;
};

// The provider's answer is passed on whole when it is small (or an error) and complete, streamed
// as it arrives when it is an event stream, large or of unknown length; no more than this waits
// unsent for a slow client before the provider is paused.
constexpr size_t k_max_unsent = 256 << 10;

class ForwardImpl final : public Forward {
public:
  ForwardImpl(std::shared_ptr<const RuntimeConfig> config, const Route& route,
              const httplib::Request& request, std::optional<std::string> model, Protocol protocol,
              UpstreamTransfer::Request outgoing, std::unique_ptr<Translation> translation,
              httplib::Response& response, Logger& logger, Observers observers, EventLoop& loop,
              EventLoop::Id owner, ResponseChannel& channel)
      : m_config(std::move(config)), m_upstream(m_config->upstreams[route.upstream]),
        m_keys(*m_config->key_pools[route.upstream]), m_stats(*m_config->stats[route.upstream]),
        m_request(request), m_model(std::move(model)), m_protocol(protocol),
        m_outgoing(std::move(outgoing)), m_translation(std::move(translation)),
        m_response(response), m_logger(logger), m_observers(observers), m_loop(loop),
        m_owner(owner), m_channel(channel),
        m_attempts(std::max<size_t>(1, std::min(k_max_key_attempts, m_keys.size()))) {}

  ~ForwardImpl() override {
    if (m_state == State::streaming) {
      // The client left: dropping the transfer cancels the provider request.
      m_logger.info("client left; provider stream cancelled", {{"upstream", m_upstream.name}});
    }
    stream_ended();
    flush_attempt(false);
  }

  // Start the first attempt (which may answer at once: every key resting).
  void start() { next_attempt(); }

  bool progress(Clock::time_point now) override {
    if (m_state == State::waiting) {
      on_waiting(now);
    }
    if (m_state == State::inspecting) {
      on_inspecting(now);
    }
    if (m_state == State::buffering) {
      on_buffering(now);
    } else if (m_state == State::streaming) {
      on_streaming(now);
    }
    return m_state == State::done;
  }

private:
  enum class State { waiting, inspecting, buffering, streaming, done };

  // Return an event of `kind` about this request and its upstream.
  Event event(EventKind kind, std::string reason, int status) const {
    Event event = event_for(kind, m_request);
    event.request = m_request_id;
    event.model = m_model ? printable(*m_model, 128) : "";
    event.upstream = m_upstream.name;
    event.reason = std::move(reason);
    event.status = status;
    return event;
  }

  // Remember a provider's answer to the current attempt (or that none came). It is recorded once
  // its fate is known: tried again with another key, or passed on to the client.
  void record_attempt(EventKind kind, std::string reason, int status,
                      std::optional<ProviderLimit> limit = std::nullopt) {
    flush_attempt(false);
    Event seen = event(kind, std::move(reason), status);
    seen.from_provider = status != 0;
    seen.provider_key_last4 = m_key.size() >= 8 ? m_key.substr(m_key.size() - 4) : "";
    if (limit) {
      const auto seconds = [](const auto& delay) -> std::optional<long long> {
        if (!delay) {
          return std::nullopt;
        }
        return std::chrono::ceil<std::chrono::seconds>(*delay).count();
      };
      seen.retry_after = seconds(limit->retry_after);
      seen.limit = LimitSeen{std::string(to_string(limit->scope)), limit->detail,
                             seconds(limit->retry_after)};
    }
    m_pending = std::move(seen);
  }

  // Record the last attempt's event, saying whether its answer was the client's (`passed_on`).
  void flush_attempt(bool passed_on) {
    if (m_pending) {
      m_pending->passed_on = passed_on;
      m_observers.events.record(std::move(*m_pending));
      m_pending.reset();
    }
  }

  // Count the tokens a provider's answer reports.
  void count_usage(const ir::Usage& usage) {
    m_stats.count_tokens(TokenKind::input, usage.input);
    m_stats.count_tokens(TokenKind::output, usage.output);
    m_stats.count_tokens(TokenKind::cached, usage.cached);
    m_stats.count_tokens(TokenKind::reasoning, usage.reasoning);
  }

  // Count the tokens of an answer passed on whole (read only when it reports usage at all).
  void count_usage(std::string_view body) {
    if (body.find("\"usage") == std::string_view::npos) {
      return;
    }
    const ir::json parsed = ir::json::parse(body, nullptr, false);
    if (!parsed.is_object()) {
      return;
    }
    try {
      count_usage(family_of(m_protocol).read_answer(parsed).usage);
    } catch (const std::exception&) {
      // not an answer of the family (a model list, an embedding): no tokens to count
    }
  }

  // Count a stream to the client as open, until stream_ended().
  void stream_started() {
    m_stream_open = true;
    m_observers.metrics.open_streams.fetch_add(1, std::memory_order_relaxed);
  }
  void stream_ended() {
    if (m_stream_open) {
      m_stream_open = false;
      m_observers.metrics.open_streams.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Send the response as it stands, whole; the forward is done.
  void answer() {
    m_state = State::done;
    m_channel.respond();
  }

  void fail(ErrorKind kind, std::string_view code, const std::string& message) {
    send_error(m_response, m_protocol, kind, code, message);
    m_response.set_header("x-agproxy-upstream", m_upstream.name);
    answer();
  }

  void next_attempt() {
    while (m_attempt < m_attempts) {
      ++m_attempt;
      const Clock::time_point now = Clock::now();
      // The last possible attempt takes the request instead of a copy (the body is shared).
      UpstreamTransfer::Request request =
          m_attempt == m_attempts ? std::move(m_outgoing) : m_outgoing;
      m_key.clear();
      if (m_keys.size() > 0) {
        const std::optional<size_t> index = m_keys.next(now, m_tried);
        if (!index) {
          break; // every other key is resting
        }
        m_tried.push_back(*index);
        m_key = m_keys.key(*index);
        request.headers.push_back(credential_header(m_upstream.protocol, m_key));
      }
      flush_attempt(false); // the last attempt's answer goes no further
      m_current = std::make_unique<UpstreamTransfer>(m_loop, m_owner);
      m_attempt_start = now;
      m_deadline = now + m_config->request_timeout;
      m_current->start(std::move(request), m_deadline);
      m_state = State::waiting;
      return;
    }
    after_attempts();
  }

  void on_waiting(Clock::time_point now) {
    UpstreamTransfer& transfer = *m_current;
    if (!transfer.headers_done()) {
      if (!transfer.done() && now < m_deadline) {
        return;
      }
      m_stats.count_failure();
      if (!transfer.done() || transfer.outcome() == UpstreamTransfer::Outcome::timeout) {
        m_logger.warn("provider timed out", {{"upstream", m_upstream.name}, {"key", last4(m_key)}});
        record_attempt(EventKind::upstream_error, "upstream_timeout", 0);
        m_current.reset();
        fail(ErrorKind::gateway_timeout, "upstream_timeout",
             "agproxy: upstream '" + m_upstream.name + "' did not answer within " +
                 std::to_string(m_config->request_timeout.count()) + " s (proxy.request_timeout)");
        return;
      }
      m_logger.warn(
          "provider unreachable; trying the next key",
          {{"upstream", m_upstream.name}, {"key", last4(m_key)}, {"error", transfer.error()}});
      m_last.reset();
      if (transfer.outcome() == UpstreamTransfer::Outcome::tls || m_attempt == m_attempts) {
        // (another key would meet the same certificate)
        const std::string error = transfer.error();
        const bool tls = transfer.outcome() == UpstreamTransfer::Outcome::tls;
        record_attempt(EventKind::upstream_error,
                       tls ? "upstream_tls_error" : "upstream_unreachable", 0);
        m_current.reset();
        if (tls) {
          fail(ErrorKind::bad_gateway, "upstream_tls_error",
               "agproxy: upstream '" + m_upstream.name + "' failed the TLS handshake: " + error +
                   ". A provider behind a private CA or with a self-signed certificate needs "
                   "its CA in the upstream's ca_file (or tls_verify false, unsafe)");
        } else {
          fail(ErrorKind::bad_gateway, "upstream_unreachable",
               "agproxy: upstream '" + m_upstream.name + "' is unreachable: " + error);
        }
        return;
      }
      record_attempt(EventKind::upstream_error, "upstream_unreachable", 0);
      m_stats.count_retry(RetryCause::unreachable);
      m_current.reset();
      next_attempt();
      return;
    }
    const int status = transfer.status();
    m_stats.time_to_first_byte.observe(now - m_attempt_start);
    m_stats.count(status);
    if (!m_key.empty()) {
      m_keys.note_status(m_tried.back(), status);
    }
    // A limit's body says what kind it is and when it ends; Gemini says a key is invalid in a 400.
    if (status == 429 || status == 529 ||
        (status == 400 && m_upstream.protocol == Protocol::gemini && !m_key.empty())) {
      m_body.clear();
      m_deadline = std::min(m_deadline, now + k_max_inspect_time);
      m_state = State::inspecting;
      on_inspecting(now);
      return;
    }
    decide(now, std::nullopt);
  }

  // Read the error body of the current attempt, then decide on it.
  void on_inspecting(Clock::time_point now) {
    m_current->take(m_body);
    if (!m_current->drained() && now < m_deadline && m_body.size() <= k_max_error_body) {
      return;
    }
    if (m_body.size() > k_max_error_body) {
      m_body.resize(k_max_error_body); // (read as far as it goes; not passed on whole)
    }
    UpstreamTransfer& transfer = *m_current;
    const ProviderLimit limit = read_provider_limit(
        m_upstream.protocol, transfer.status(),
        [&](std::string_view name) { return transfer.header(std::string(name)); }, m_body,
        std::chrono::system_clock::now());
    m_state = State::waiting;
    decide(now, limit);
  }

  // Decide on the current attempt's answer (its headers, and with `limit` its error body read):
  // pass it on, or rest its key and try the next.
  void decide(Clock::time_point now, const std::optional<ProviderLimit>& limit) {
    const int status = m_current->status();
    if (!m_key.empty() && status == 429) {
      const RestCause cause = !limit                                 ? RestCause::rate_limited
                              : limit->scope == LimitScope::quota    ? RestCause::quota
                              : limit->scope == LimitScope::capacity ? RestCause::capacity
                                                                     : RestCause::rate_limited;
      const auto wait =
          limit && limit->retry_after
              ? std::chrono::ceil<std::chrono::seconds>(*limit->retry_after)
              : std::chrono::seconds(cause == RestCause::quota ? k_default_quota_rest
                                                               : k_default_rate_limit_rest);
      m_keys.rest(m_tried.back(), wait, now, cause);
      m_stats.count_retry(RetryCause::rate_limited);
      record_attempt(EventKind::rate_limited, "provider_rate_limited", status, limit);
      m_logger.warn("provider key rate-limited; resting it",
                    {{"upstream", m_upstream.name},
                     {"key", last4(m_key)},
                     {"limit", std::string(limit ? to_string(limit->scope) : "unknown")},
                     {"rest_s", std::to_string(wait.count()), true}});
    } else if (!m_key.empty() &&
               (status == 401 || status == 403 || (limit && limit->key_invalid))) {
      m_keys.rest(m_tried.back(), k_refused_key_rest, now, RestCause::refused);
      m_stats.count_retry(RetryCause::key_refused);
      record_attempt(EventKind::upstream_error, "key_refused", status, limit);
      m_logger.warn(
          "provider refused its key; taking it out",
          {{"upstream", m_upstream.name},
           {"key", last4(m_key)},
           {"status", std::to_string(status), true},
           {"rest_s", std::to_string(std::chrono::seconds(k_refused_key_rest).count()), true}});
    } else if (status < 500) {
      if (status == 429) { // (an upstream without keys: nothing to rest, passed on as it came)
        record_attempt(EventKind::rate_limited, "provider_rate_limited", status, limit);
        flush_attempt(true);
      }
      relay(std::move(m_current), m_key, limit);
      return;
    } else {
      m_stats.count_retry(RetryCause::server_error);
      record_attempt(status == 529 ? EventKind::rate_limited : EventKind::upstream_error,
                     "upstream_status", status, limit);
      m_logger.warn("provider error; trying the next key",
                    {{"upstream", m_upstream.name},
                     {"key", last4(m_key)},
                     {"status", std::to_string(status), true}});
    }
    m_last = std::move(m_current);
    m_last_key = m_key;
    m_last_body = std::move(m_body);
    m_last_limit = limit;
    m_body.clear();
    next_attempt();
  }

  // Every attempt is made: a provider's own refusal or error is passed on as it was; rate limits
  // on every key are ours.
  void after_attempts() {
    if (m_last && m_last->status() != 429) {
      flush_attempt(true);
      m_body = std::move(m_last_body);
      relay(std::move(m_last), m_last_key, m_last_limit);
      return;
    }
    const Clock::time_point now = Clock::now();
    if (m_keys.size() > 0 && !m_keys.any_usable(now)) {
      const auto wait = m_keys.soonest_usable(now) - now;
      const long long seconds =
          std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
      m_logger.warn(
          "every key of the upstream is resting",
          {{"upstream", m_upstream.name}, {"retry_after_s", std::to_string(seconds), true}});
      flush_attempt(false);
      Event resting = event(EventKind::rate_limited, "all_keys_resting", 429);
      resting.retry_after = seconds;
      m_observers.events.record(std::move(resting));
      m_last.reset();
      send_error(m_response, m_protocol, ErrorKind::rate_limited, "all_keys_resting",
                 "agproxy: every key of upstream '" + m_upstream.name +
                     "' is rate-limited or refused; retry in " + std::to_string(seconds) + " s");
      m_response.set_header("Retry-After", std::to_string(seconds));
      m_response.set_header("x-agproxy-reason", "all_keys_resting"); // agproxy's 429, not theirs
      answer();
      return;
    }
    if (m_last) {
      flush_attempt(true);
      m_body = std::move(m_last_body);
      relay(std::move(m_last), m_last_key, m_last_limit); // as the provider said
      return;
    }
    fail(ErrorKind::bad_gateway, "upstream_unreachable",
         "agproxy: upstream '" + m_upstream.name + "' could not be reached");
  }

  // Pass the provider's answer on: status and headers now, the body as it comes (after what of
  // it m_body holds already). A limit read from its body gives the client the Retry-After the
  // provider put in the body only (Gemini's retryDelay).
  void relay(std::unique_ptr<UpstreamTransfer> transfer, const std::string& key,
             const std::optional<ProviderLimit>& limit = std::nullopt) {
    m_current = std::move(transfer);
    m_last.reset();
    UpstreamTransfer& upstream = *m_current;
    m_response.status = upstream.status();
    for (const auto& [name, value] : upstream.headers()) {
      if (forwarded_response_header(name)) {
        m_response.headers.emplace(name, value);
      }
    }
    if (limit && limit->retry_after && !m_response.has_header("Retry-After")) {
      m_response.set_header(
          "Retry-After",
          std::to_string(std::max<long long>(
              1, std::chrono::ceil<std::chrono::seconds>(*limit->retry_after).count())));
    }
    m_response.set_header("x-agproxy-upstream", m_upstream.name);
    if (!key.empty()) {
      m_response.set_header("x-agproxy-key", last4(key));
    }
    m_content_type = upstream.header("Content-Type");
    if (m_translation) {
      relay_translated(upstream);
      return;
    }
    m_event_stream = m_content_type.starts_with("text/event-stream");
    const std::string length = upstream.header("Content-Length");
    const bool small = !length.empty() && length.size() < 16 &&
                       std::strtoull(length.c_str(), nullptr, 10) <= k_max_buffered_body;
    const bool error = m_response.status >= 400;
    m_last_data = m_last_write = Clock::now();
    if (!m_event_stream && (small || error)) {
      m_limit = error ? k_max_error_body : k_max_buffered_body;
      m_deadline = m_last_data + m_config->request_timeout;
      m_state = State::buffering;
      on_buffering(m_last_data);
      return;
    }
    m_response.set_header("Content-Type",
                          m_content_type.empty() ? "application/octet-stream" : m_content_type);
    m_state = State::streaming;
    if (m_event_stream && m_response.status < 300) {
      m_stream_usage.emplace(m_protocol);
    }
    stream_started();
    m_channel.begin_stream();
    on_streaming(m_last_data);
  }

  // The provider's answer is rewritten for the client: a stream event by event as it comes; a
  // whole answer or an error once it is complete.
  void relay_translated(UpstreamTransfer& upstream) {
    m_response.set_header("x-agproxy-translation", m_translation->direction());
    m_last_data = m_last_write = Clock::now();
    const bool error = m_response.status >= 400;
    if (!error && m_translation->stream() && m_content_type.starts_with("text/event-stream")) {
      m_response.set_header("Content-Type", m_translation->content_type());
      m_event_stream = m_translation->content_type() == "text/event-stream";
      m_state = State::streaming;
      stream_started();
      m_channel.begin_stream();
      on_streaming(m_last_data);
      return;
    }
    (void)upstream;
    m_limit = error ? k_max_error_body : k_max_translated_answer;
    m_deadline = m_last_data + m_config->request_timeout;
    m_state = State::buffering;
    on_buffering(m_last_data);
  }

  // Answer the client with the provider's complete answer `body`, rewritten for its family.
  void answer_translated(std::string body) {
    const int status = m_response.status;
    std::string out;
    try {
      if (status >= 400) {
        out = m_translation->error(status, body);
      } else if (m_translation->stream()) {
        out = m_translation->answer_as_stream(body);
      } else {
        out = m_translation->answer(body);
      }
    } catch (const std::exception& e) {
      m_logger.warn("provider answer not understood",
                    {{"upstream", m_upstream.name}, {"error", e.what()}});
      send_error(m_response, m_protocol, ErrorKind::bad_gateway, "upstream_bad_answer",
                 "agproxy: upstream '" + m_upstream.name + "' answered " + std::to_string(status) +
                     " with a body that is not a " + std::string(to_string(m_upstream.protocol)) +
                     " answer: " + e.what());
      answer();
      return;
    }
    if (status < 400) {
      count_usage(m_translation->usage());
    }
    m_response.set_content(std::move(out),
                           status >= 400 ? "application/json" : m_translation->content_type());
    answer();
  }

  void on_buffering(Clock::time_point now) {
    m_current->take(m_body);
    if (m_body.size() > m_limit) {
      // An error page this large is no answer an SDK can show (a load balancer's HTML, a dump):
      // say what happened, in the client's protocol, instead of holding and passing it on.
      const int status = m_response.status;
      m_current.reset();
      m_response.headers.erase("Content-Type");
      send_error(m_response, m_protocol, error_kind_for_status(status), "upstream_error",
                 "agproxy: upstream '" + m_upstream.name + "' answered " + std::to_string(status) +
                     " with an error body over " + std::to_string(m_limit >> 10) +
                     " KiB, not passed on");
      m_response.status = status;
      answer();
      return;
    }
    if (!m_current->drained() && now < m_deadline) {
      return;
    }
    if (m_current->failed()) {
      // Half an answer is no answer: a client would take a 200 with a cut body for the whole.
      m_logger.warn("provider response incomplete",
                    {{"upstream", m_upstream.name}, {"error", m_current->error()}});
      const std::string error = m_current->error();
      m_current.reset();
      m_response.headers.erase("Content-Type");
      fail(ErrorKind::bad_gateway, "upstream_error",
           "agproxy: upstream '" + m_upstream.name + "' ended its answer early (" + error + ")");
      return;
    }
    if (!m_current->drained()) {
      m_logger.warn(
          "provider response incomplete",
          {{"upstream", m_upstream.name}, {"error", "the response did not complete in time"}});
    }
    m_current.reset();
    if (m_translation) {
      answer_translated(std::move(m_body));
      return;
    }
    if (m_response.status >= 200 && m_response.status < 300) {
      count_usage(m_body);
    }
    m_response.set_content(std::move(m_body),
                           m_content_type.empty() ? "application/octet-stream" : m_content_type);
    answer();
  }

  void on_streaming(Clock::time_point now) {
    UpstreamTransfer& upstream = *m_current;
    if (upstream.buffered() > 0 && m_channel.unsent() < k_max_unsent) {
      std::string chunk;
      upstream.take(chunk);
      m_last_data = now;
      if (m_translation) {
        chunk = m_translation->feed(chunk);
      } else if (m_stream_usage) {
        m_stream_usage->feed(chunk);
      }
      if (!chunk.empty()) {
        m_last_write = now;
        m_framing.feed(chunk);
        if (!m_channel.send_chunk(chunk)) {
          return; // the connection ends, and this with it
        }
      }
    } else if (upstream.buffered() == 0 && m_event_stream && m_framing.at_boundary() &&
               now - m_last_write > k_heartbeat && !upstream.done()) {
      // A comment line, which SSE readers skip: while the provider is silent, it is the only
      // way to learn that the client left (a write to a closed connection fails).
      m_last_write = now;
      if (!m_channel.send_chunk(":\n\n")) {
        return;
      }
    }
    if (upstream.drained()) {
      if (upstream.failed()) {
        m_logger.warn("provider stream broke off",
                      {{"upstream", m_upstream.name}, {"error", upstream.error()}});
      }
      const bool broken = upstream.failed();
      m_state = State::done;
      m_current.reset();
      end_stream(broken);
    } else if (upstream.buffered() == 0 && now - m_last_data > m_config->request_timeout) {
      m_logger.warn("provider stream stalled; ending it", {{"upstream", m_upstream.name}});
      m_state = State::done;
      m_current.reset();
      end_stream(true);
    }
  }

  // End the client's stream, closing it properly in its family when it is translated (with the
  // family's in-stream error when the provider's stream `broken` off).
  void end_stream(bool broken) {
    stream_ended();
    if (m_stream_usage) {
      count_usage(m_stream_usage->finish());
    }
    if (m_translation) {
      const std::string tail = m_translation->finish(broken);
      count_usage(m_translation->usage());
      if (!tail.empty() && !m_channel.send_chunk(tail)) {
        return;
      }
    }
    m_channel.end_stream();
  }

  std::shared_ptr<const RuntimeConfig> m_config;
  const Upstream& m_upstream;
  KeyPool& m_keys;
  UpstreamStats& m_stats;
  const httplib::Request& m_request; // (its body is gone: moved into the outgoing request)
  std::optional<std::string> m_model;
  Protocol m_protocol;
  UpstreamTransfer::Request m_outgoing;
  std::unique_ptr<Translation> m_translation; // none: the answer passes through
  httplib::Response& m_response;
  Logger& m_logger;
  Observers m_observers;
  EventLoop& m_loop;
  EventLoop::Id m_owner;
  ResponseChannel& m_channel;
  const size_t m_attempts;
  size_t m_attempt = 0;
  State m_state = State::waiting;
  std::vector<size_t> m_tried;
  std::string m_key, m_last_key;
  std::unique_ptr<UpstreamTransfer> m_current, m_last;
  std::string m_last_body; // what of m_last's body was read to decide on it
  std::optional<ProviderLimit> m_last_limit;
  Clock::time_point m_attempt_start{}, m_deadline{};
  bool m_stream_open = false;
  std::optional<StreamUsage> m_stream_usage; // a stream passed through: its tokens
  const uint64_t m_request_id = next_request_id();
  std::optional<Event> m_pending; // the last attempt's event, until its fate is known
  std::string m_content_type;
  bool m_event_stream = false;
  size_t m_limit = 0;
  std::string m_body;
  Clock::time_point m_last_data{}, m_last_write{};
  SseFraming m_framing; // where events end, for the heartbeat
};

// Return whether `query` holds the parameter `parameter` ("name=value") as written.
bool has_query_parameter(std::string_view query, std::string_view parameter) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    if (query.substr(0, amp) == parameter) {
      return true;
    }
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
  }
  return false;
}

// Read the client's request for a provider of another family and write it in the provider's
// (`wire`). Returns nothing when `response` is already the answer: a 400 naming what cannot be
// translated, or a token count (estimated here: the provider's own counter speaks another family).
std::unique_ptr<Translation> translate_request(const httplib::Request& request,
                                               httplib::Response& response, Protocol protocol,
                                               const Upstream& upstream, const std::string& model,
                                               std::string_view path, std::string_view query,
                                               WireRequest& wire) {
  // Gemini takes the model in the path: a name from the client's body that is not one could
  // reach past its segment (DESIGN §11).
  const bool path_safe = !model.empty() && std::all_of(model.begin(), model.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
  if (upstream.protocol == Protocol::gemini && !path_safe) {
    send_error(response, protocol, ErrorKind::bad_request, "invalid_request",
               "agproxy: the model is not a model name ([A-Za-z0-9._-]) and cannot be sent to "
               "upstream '" +
                   upstream.name + "', which speaks gemini and takes the model in its path");
    return nullptr;
  }
  RequestSite site;
  if (protocol == Protocol::gemini) {
    // .../models/{model}:{action}; read_model() has checked the model segment.
    const size_t start = path.find("/models/") + 8;
    site.model = std::string(path.substr(start, path.find(':', start) - start));
    site.stream = path.ends_with(":streamGenerateContent");
    site.sse = has_query_parameter(query, "alt=sse");
  }
  const ir::json body = ir::json::parse(request.body, nullptr, false);
  try {
    if (!body.is_object()) {
      throw std::invalid_argument("the request body is not a JSON object");
    }
    auto translation =
        std::make_unique<Translation>(protocol, upstream.protocol, body, site, model);
    if (count_tokens_route(path)) {
      const long long tokens = estimate_tokens(translation->conversation());
      const ir::json count = protocol == Protocol::gemini ? ir::json{{"totalTokens", tokens}}
                                                          : ir::json{{"input_tokens", tokens}};
      response.set_content(count.dump(), k_json_type);
      response.set_header("x-agproxy-upstream", upstream.name);
      response.set_header("x-agproxy-translation", translation->direction());
      return nullptr;
    }
    wire = translation->request(); // (a writer may refuse what its family cannot say)
    return translation;
  } catch (const ir::Untranslatable& e) {
    send_error(response, protocol, ErrorKind::bad_request, "untranslatable_field",
               "agproxy: " + std::string(e.what()) + " (field " + e.field() + "; upstream '" +
                   upstream.name + "' speaks " + std::string(to_string(upstream.protocol)) + ")");
  } catch (const std::exception& e) {
    send_error(response, protocol, ErrorKind::bad_request, "invalid_request",
               "agproxy: the request cannot be read as a request of the " +
                   std::string(to_string(protocol)) + " family for translation to upstream '" +
                   upstream.name + "' (" + std::string(to_string(upstream.protocol)) +
                   "): " + e.what());
  }
  return nullptr;
}

} // namespace

std::unique_ptr<Forward> forward_request(httplib::Request& request, httplib::Response& response,
                                         std::shared_ptr<const RuntimeConfig> config,
                                         Protocol protocol, Logger& logger, Observers observers,
                                         std::string& upstream_name, EventLoop& loop,
                                         EventLoop::Id owner, ResponseChannel& channel) {
  // The path as the client sent it (still percent-encoded): it goes upstream as it is.
  const size_t mark = request.target.find('?');
  const std::string_view raw_path = std::string_view(request.target).substr(0, mark);
  const std::string_view query = mark == std::string::npos
                                     ? std::string_view()
                                     : std::string_view(request.target).substr(mark + 1);
  const ModelRead read =
      read_model(protocol, raw_path, request.body, request.get_header_value("Content-Type"));
  if (read.malformed) {
    send_error(response, protocol, ErrorKind::bad_request, "invalid_request",
               protocol == Protocol::gemini
                   ? "agproxy: the model in the path is not a model name ([A-Za-z0-9._-])"
                   : "agproxy: the request body is not valid JSON (NaN, Infinity and numbers out "
                     "of range included); it is routed by its \"model\"");
    return nullptr;
  }
  const std::optional<std::string>& model = read.model;
  if (config->echo_model && model == std::string(k_echo_model)) {
    upstream_name = "agproxy-echo";
    answer_echo(request, response, protocol);
    return nullptr;
  }
  const bool translatable = translatable_route(protocol, request.method, raw_path);
  const std::optional<Route> route =
      choose_upstream(config->upstreams, protocol, model, translatable);
  if (!route) {
    std::string what = model ? "model '" + *model + "'" : std::string("this request");
    if (!model && protocol != Protocol::gemini && request.method == "POST") {
      what += " (its body is not a JSON object with a \"model\" string, and every upstream of "
              "the family restricts its models)";
    }
    send_error(response, protocol, ErrorKind::not_found, "model_not_found",
               "agproxy: no upstream serves " + what + " on the " +
                   std::string(to_string(protocol)) + " routes; configured models: " +
                   configured_models(*config) + " (proxy.upstreams in the config)");
    return nullptr;
  }
  const Upstream& upstream = config->upstreams[route->upstream];
  upstream_name = upstream.name;

  UpstreamTransfer::Request outgoing;
  outgoing.method = request.method;
  outgoing.trust = config->trust[route->upstream].get();
  outgoing.tls_verify = upstream.tls_verify;
  outgoing.proxy = upstream.proxy;
  std::unique_ptr<Translation> translation;
  if (upstream.protocol != protocol && translatable) {
    WireRequest wire;
    translation =
        translate_request(request, response, protocol, upstream,
                          route->model.value_or(model.value_or("")), raw_path, query, wire);
    if (!translation) {
      return nullptr; // answered: a 400, or a token count
    }
    observers.metrics.count_translation(protocol, upstream.protocol);
    const size_t wire_mark = wire.path.find('?');
    outgoing.url = join_url(upstream.base_url, std::string_view(wire.path).substr(0, wire_mark),
                            wire_mark == std::string::npos ? "" : wire.path.substr(wire_mark + 1));
    outgoing.body = std::make_shared<const std::string>(std::move(wire.body));
    // The client's headers belong to its own family's API (anthropic-beta, OpenAI-Organization):
    // none is passed to another family's provider.
    outgoing.headers.emplace_back("Content-Type", "application/json");
    if (upstream.protocol == Protocol::anthropic) {
      outgoing.headers.emplace_back("anthropic-version", "2023-06-01");
    }
  } else {
    std::string path(raw_path);
    if (route->model && model && *route->model != *model) {
      if (protocol == Protocol::gemini) {
        path = replace_path_model(path, *route->model);
      } else {
        replace_body_model(request.body, *route->model); // in place; it is an object
      }
    }
    // Moved, not copied: the client's request needs its body no more.
    outgoing.body = std::make_shared<const std::string>(std::move(request.body));
    outgoing.url = join_url(upstream.base_url, path, strip_key_parameter(query));
    // Headers the client's Connection header names are hop-by-hop too (RFC 9110 §7.6.1).
    const std::string connection = request.get_header_value("Connection");
    bool has_version = false;
    for (const auto& [name, value] : request.headers) {
      if (forwarded_request_header(name) && !list_has_token(connection, name)) {
        outgoing.headers.emplace_back(name, value);
        has_version = has_version || iequals(name, "anthropic-version");
      }
    }
    if (protocol == Protocol::anthropic && !has_version) {
      outgoing.headers.emplace_back("anthropic-version", "2023-06-01");
    }
  }
  auto forward = std::make_unique<ForwardImpl>(std::move(config), *route, request, model, protocol,
                                               std::move(outgoing), std::move(translation),
                                               response, logger, observers, loop, owner, channel);
  forward->start(); // may answer at once, through the channel
  return forward;
}

} // namespace agproxy
