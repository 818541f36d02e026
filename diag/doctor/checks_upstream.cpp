#include "diag/doctor/checks.hpp"

#include <nlohmann/json.hpp>

namespace agproxy::diag::doctor {

using nlohmann::json;

CheckResult check_upstream_auth(Context& context, CheckResult check) {
  if (!context.options.probe_model) {
    check.summary = "skipped: pass --probe-model MODEL to send one request through to the "
                    "provider (it may cost a provider call)";
    return check;
  }
  if (!context.reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const auto key = context.options.key ? context.options.key : context.configured_key();
  const std::string& model = *context.options.probe_model;
  ProbeRequest request{"POST", "", {{"Content-Type", "application/json"}}, "", 0};
  if (model.starts_with("claude")) {
    request.url = context.target.base + "/v1/messages";
    request.headers.emplace_back("anthropic-version", "2023-06-01");
    request.body = json{{"model", model},
                        {"max_tokens", 1},
                        {"messages", json::array({{{"role", "user"}, {"content", "ping"}}})}}
                       .dump();
  } else if (model.starts_with("gemini")) {
    request.url = context.target.base + "/v1beta/models/" + model + ":generateContent";
    request.body = json{{"contents", json::array({{{"parts", json::array({{{"text", "ping"}}})}}})},
                        {"generationConfig", {{"maxOutputTokens", 1}}}}
                       .dump();
  } else {
    request.url = context.target.base + "/v1/chat/completions";
    request.body = json{{"model", model},
                        {"max_tokens", 1},
                        {"messages", json::array({{{"role", "user"}, {"content", "ping"}}})}}
                       .dump();
  }
  if (key) {
    request.headers.emplace_back("Authorization", "Bearer " + *key);
  }
  const ProbeResponse response = context.probe(check.trace, request);
  const std::string sent = "sent one request for " + model +
                           " through the proxy (it may cost a "
                           "provider call): ";
  if (response.error != TransportError::none) {
    check.status = CheckStatus::warn;
    check.summary = sent + "no answer (" + response.error_text + ")";
    return check;
  }
  const std::string status = std::to_string(response.status);
  if (response.status >= 200 && response.status < 300) {
    check.status = CheckStatus::pass;
    check.summary = sent + status + ": the provider accepted its key";
    return check;
  }
  if (context.is_proxy_401(response)) {
    check.status = CheckStatus::warn;
    check.summary = sent + "the proxy itself refused it (" +
                    response.header("x-agproxy-reason").value_or("401") + "); see the checks above";
    return check;
  }
  if (response.status == 401 || response.status == 403) {
    check.status = CheckStatus::fail;
    check.summary = sent + status +
                    " from the provider (no agproxy realm): the provider refused "
                    "its key — not a proxy problem";
    check.detail = "The proxy accepted your key and forwarded the request" +
                   (response.header("x-agproxy-upstream")
                        ? " to upstream " + *response.header("x-agproxy-upstream")
                        : std::string()) +
                   (response.header("x-agproxy-key")
                        ? " with provider key " + *response.header("x-agproxy-key")
                        : std::string()) +
                   "; the provider answered: " + response.body.substr(0, 200);
    check.fix = "check the provider key in proxy.upstreams[].api_keys (agproxy config show" +
                context.config_flag() + ")";
    return check;
  }
  if (response.status == 502 && response.body.find("upstream_tls_error") != std::string::npos) {
    check.status = CheckStatus::fail;
    check.summary = sent + "502: the proxy could not make a TLS connection to upstream " +
                    response.header("x-agproxy-upstream").value_or("(unnamed)");
    check.detail = "The proxy accepted your key, but the provider's certificate was not trusted or "
                   "the handshake failed: " +
                   response.body.substr(0, 300);
    check.fix = "if the provider uses a private CA or a self-signed certificate, set that "
                "upstream's \"ca_file\" to its CA certificate (PEM) in the config (agproxy "
                "config show" +
                context.config_flag() + "); otherwise check its base_url and proxy";
    return check;
  }
  check.status = CheckStatus::warn;
  check.summary = sent + status + ": " + response.body.substr(0, 160);
  return check;
}

} // namespace agproxy::diag::doctor
