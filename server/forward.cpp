#include "server/forward.hpp"

#include "server/echo.hpp"
#include "server/respond.hpp"
#include "server/routing.hpp"
#include "server/secret.hpp"
#include "server/sse.hpp"
#include "server/text.hpp"
#include "server/upstream_transfer.hpp"

#include <httplib.h>

namespace agproxy {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto k_default_rate_limit_rest = std::chrono::seconds(30);
constexpr auto k_refused_key_rest = std::chrono::minutes(10);
constexpr size_t k_max_attempts = 3;
constexpr auto k_heartbeat = std::chrono::milliseconds(400);
// Bodies up to this size with a Content-Length are passed on whole (with their length).
constexpr size_t k_max_buffered_body = 1 << 20;
// A provider's error body larger than this is not passed on.
constexpr size_t k_max_error_body = 256 << 10;

std::string last4(const std::string& key) {
  return "…" + (key.size() >= 8 ? key.substr(key.size() - 4) : std::string());
}

std::string configured_models(const RuntimeConfig& config, Protocol protocol) {
  std::string out;
  for (const ListedModel& model : config.models) {
    out += (out.empty() ? "" : ", ") + model.id;
  }
  for (const Upstream& upstream : config.upstreams) {
    if (upstream.protocol != protocol) {
      continue;
    }
    for (const std::string& pattern : upstream.models) {
      if (pattern.find_first_of("*?") != std::string::npos) {
        out += (out.empty() ? "" : ", ") + pattern;
      }
    }
  }
  return out.empty() ? "none" : out;
}

std::string join_url(const std::string& base, const std::string& path, const std::string& query) {
  std::string url = base;
  while (!url.empty() && url.back() == '/') {
    url.pop_back();
  }
  url += path;
  if (!query.empty()) {
    url += "?" + query;
  }
  return url;
}

// The query string of the request as the client sent it, without the path.
std::string query_of(const httplib::Request& request) {
  const size_t mark = request.target.find('?');
  return mark == std::string::npos ? "" : request.target.substr(mark + 1);
}

// Pass the provider's answer on: status, headers, and the body, buffered when it is small (or an
// error) and complete, streamed as it arrives when it is an event stream, large or of unknown
// length. An error body over k_max_error_body becomes our own error.
void relay(std::shared_ptr<UpstreamTransfer> transfer, httplib::Response& response,
           Protocol protocol, const std::string& upstream, const std::string& key,
           Clock::duration idle_timeout, Logger& logger) {
  response.status = transfer->status();
  for (const auto& [name, value] : transfer->headers()) {
    if (forwarded_response_header(name)) {
      response.headers.emplace(name, value);
    }
  }
  response.set_header("x-agproxy-upstream", upstream);
  if (!key.empty()) {
    response.set_header("x-agproxy-key", last4(key));
  }
  std::string content_type = transfer->header("Content-Type");
  const bool event_stream = content_type.starts_with("text/event-stream");
  const std::string length = transfer->header("Content-Length");
  const bool small = !length.empty() && length.size() < 16 &&
                     std::strtoull(length.c_str(), nullptr, 10) <= k_max_buffered_body;
  const bool error = response.status >= 400;
  if (!event_stream && (small || error)) {
    std::string body;
    const size_t limit = error ? k_max_error_body : k_max_buffered_body;
    if (!transfer->read_all(body, Clock::now() + idle_timeout, limit)) {
      logger.warn("provider response incomplete",
                  {{"upstream", upstream}, {"error", transfer->error()}});
    }
    if (body.size() > limit) {
      // An error page this large is no answer an SDK can show (a load balancer's HTML, a dump):
      // say what happened, in the client's protocol, instead of holding and passing it on.
      const int status = response.status;
      response.headers.erase("Content-Type");
      send_error(response, protocol, error_kind_for_status(status), "upstream_error",
                 "agproxy: upstream '" + upstream + "' answered " + std::to_string(status) +
                     " with an error body over " + std::to_string(limit >> 10) +
                     " KiB, not passed on");
      response.status = status;
      return;
    }
    response.set_content(body, content_type.empty() ? "application/octet-stream" : content_type);
    return;
  }
  if (event_stream) {
    content_type =
        "text/event-stream"; // exactly: with a charset, httplib would compress and buffer
  }
  auto last_data = std::make_shared<Clock::time_point>(Clock::now());
  auto last_write = std::make_shared<Clock::time_point>(Clock::now());
  auto framing = std::make_shared<SseFraming>(); // where events end, for the heartbeat
  response.set_chunked_content_provider(
      content_type.empty() ? "application/octet-stream" : content_type,
      [transfer, last_data, last_write, framing, event_stream, idle_timeout, upstream,
       &logger](size_t, httplib::DataSink& sink) {
        std::string chunk;
        const bool more = transfer->read(chunk, std::chrono::milliseconds(100));
        const Clock::time_point now = Clock::now();
        if (!chunk.empty()) {
          *last_data = now;
          framing->feed(chunk);
        } else if (event_stream && framing->at_boundary() && now - *last_write > k_heartbeat) {
          // A comment line, which SSE readers skip: while the provider is silent, it is the only
          // way to learn that the client left (a write to a closed connection fails).
          chunk = ":\n\n";
        }
        if (!chunk.empty()) {
          *last_write = now;
          if (!sink.write(chunk.data(), chunk.size())) {
            // The client left: ending here drops the transfer, which cancels the provider request.
            logger.info("client left; provider stream cancelled", {{"upstream", upstream}});
            return false;
          }
        }
        if (!more) {
          if (transfer->failed()) {
            logger.warn("provider stream broke off",
                        {{"upstream", upstream}, {"error", transfer->error()}});
          }
          sink.done();
        } else if (Clock::now() - *last_data > idle_timeout) {
          logger.warn("provider stream stalled; ending it", {{"upstream", upstream}});
          sink.done();
        }
        return true;
      });
}

} // namespace

void forward_request(const httplib::Request& request, httplib::Response& response,
                     const RuntimeConfig& config, Protocol protocol, Logger& logger,
                     std::string& upstream_name) {
  const std::optional<std::string> model = requested_model(protocol, request.path, request.body);
  if (config.echo_model && model == std::string(k_echo_model)) {
    upstream_name = "agproxy-echo";
    answer_echo(request, response, protocol);
    return;
  }
  const std::optional<Route> route = choose_upstream(config.upstreams, protocol, model);
  if (!route) {
    std::string what = model ? "model '" + *model + "'" : std::string("this request");
    if (!model && protocol != Protocol::gemini && request.method == "POST") {
      what += " (its body is not a JSON object with a \"model\" string)";
    }
    send_error(response, protocol, ErrorKind::not_found, "model_not_found",
               "agproxy: no upstream serves " + what + " on the " +
                   std::string(to_string(protocol)) + " routes; configured models: " +
                   configured_models(config, protocol) + " (proxy.upstreams in the config)");
    return;
  }
  const Upstream& upstream = config.upstreams[route->upstream];
  upstream_name = upstream.name;

  UpstreamTransfer::Request outgoing;
  outgoing.method = request.method;
  std::string path = request.path;
  outgoing.body = request.body;
  if (route->model && model && *route->model != *model) {
    if (protocol == Protocol::gemini) {
      path = replace_path_model(path, *route->model);
    } else if (auto rewritten = replace_body_model(request.body, *route->model)) {
      outgoing.body = std::move(*rewritten);
    }
  }
  outgoing.url = join_url(upstream.base_url, path, strip_key_parameter(query_of(request)));
  bool has_version = false;
  for (const auto& [name, value] : request.headers) {
    if (forwarded_request_header(name)) {
      outgoing.headers.emplace_back(name, value);
      has_version = has_version || iequals(name, "anthropic-version");
    }
  }
  if (protocol == Protocol::anthropic && !has_version) {
    outgoing.headers.emplace_back("anthropic-version", "2023-06-01");
  }

  KeyPool& keys = *config.key_pools[route->upstream];
  const size_t attempts = std::max<size_t>(1, std::min(k_max_attempts, keys.size()));
  std::vector<size_t> tried;
  std::shared_ptr<UpstreamTransfer> last;
  std::string last_key;
  for (size_t attempt = 0; attempt < attempts; ++attempt) {
    const Clock::time_point now = Clock::now();
    std::string key;
    UpstreamTransfer::Request attempt_request = outgoing;
    if (keys.size() > 0) {
      const std::optional<size_t> index = keys.next(now, tried);
      if (!index) {
        break; // every other key is resting
      }
      tried.push_back(*index);
      key = keys.key(*index);
      attempt_request.headers.push_back(credential_header(protocol, key));
    }
    auto transfer = std::make_shared<UpstreamTransfer>();
    const auto outcome = transfer->start(attempt_request, now + config.request_timeout);
    if (outcome == UpstreamTransfer::Outcome::timeout) {
      logger.warn("provider timed out", {{"upstream", upstream_name}, {"key", last4(key)}});
      send_error(response, protocol, ErrorKind::gateway_timeout, "upstream_timeout",
                 "agproxy: upstream '" + upstream_name + "' did not answer within " +
                     std::to_string(config.request_timeout.count()) + " s (proxy.request_timeout)");
      return;
    }
    if (outcome != UpstreamTransfer::Outcome::headers) {
      logger.warn("provider unreachable; trying the next key",
                  {{"upstream", upstream_name}, {"key", last4(key)}, {"error", transfer->error()}});
      last.reset();
      if (attempt + 1 == attempts) {
        send_error(response, protocol, ErrorKind::bad_gateway, "upstream_unreachable",
                   "agproxy: upstream '" + upstream_name + "' at " + upstream.base_url +
                       " is unreachable: " + transfer->error());
        return;
      }
      continue;
    }
    const int status = transfer->status();
    if (!key.empty() && status == 429) {
      const auto wait =
          parse_retry_after(transfer->header("Retry-After"), std::chrono::system_clock::now())
              .value_or(k_default_rate_limit_rest);
      keys.rest(tried.back(), wait, Clock::now());
      logger.warn("provider key rate-limited; resting it",
                  {{"upstream", upstream_name},
                   {"key", last4(key)},
                   {"rest_s", std::to_string(wait.count()), true}});
    } else if (!key.empty() && (status == 401 || status == 403)) {
      keys.rest(tried.back(), k_refused_key_rest, Clock::now());
      logger.warn(
          "provider refused its key; taking it out",
          {{"upstream", upstream_name},
           {"key", last4(key)},
           {"status", std::to_string(status), true},
           {"rest_s", std::to_string(std::chrono::seconds(k_refused_key_rest).count()), true}});
    } else if (status < 500) {
      relay(transfer, response, protocol, upstream_name, key, config.request_timeout, logger);
      return;
    } else {
      logger.warn("provider error; trying the next key",
                  {{"upstream", upstream_name},
                   {"key", last4(key)},
                   {"status", std::to_string(status), true}});
    }
    last = transfer;
    last_key = key;
  }

  // A provider's own refusal or error is passed on as it was; rate limits on every key are ours.
  if (last && last->status() != 429) {
    relay(last, response, protocol, upstream_name, last_key, config.request_timeout, logger);
    return;
  }
  const Clock::time_point now = Clock::now();
  if (keys.size() > 0 && !keys.any_usable(now)) {
    const auto wait = keys.soonest_usable(now) - now;
    const long long seconds =
        std::max<long long>(1, std::chrono::ceil<std::chrono::seconds>(wait).count());
    logger.warn("every key of the upstream is resting",
                {{"upstream", upstream_name}, {"retry_after_s", std::to_string(seconds), true}});
    send_error(response, protocol, ErrorKind::rate_limited, "all_keys_resting",
               "agproxy: every key of upstream '" + upstream_name +
                   "' is rate-limited or refused; retry in " + std::to_string(seconds) + " s");
    response.set_header("Retry-After", std::to_string(seconds));
    return;
  }
  if (last) {
    relay(last, response, protocol, upstream_name, last_key, config.request_timeout,
          logger); // as the provider said
    return;
  }
  send_error(response, protocol, ErrorKind::bad_gateway, "upstream_unreachable",
             "agproxy: upstream '" + upstream_name + "' could not be reached");
}

} // namespace agproxy
