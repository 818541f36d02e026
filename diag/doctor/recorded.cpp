#include "diag/doctor/recorded.hpp"

#include "diag/doctor/clients.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace agproxy::diag::doctor {

namespace {

using nlohmann::json;

// The longest path, problem or fix text shown from the record.
constexpr size_t k_shown_text = 200;

std::optional<std::string> text_field(const json& object, const char* name, size_t limit) {
  if (!object.is_object() || !object.contains(name) || !object[name].is_string()) {
    return std::nullopt;
  }
  return printable(object[name].get<std::string>(), limit);
}

std::optional<KeyPrint> key_field(const json& object, const char* name) {
  if (!object.is_object() || !object.contains(name) || !object[name].is_object()) {
    return std::nullopt;
  }
  const auto last4 = text_field(object[name], "last4", 8);
  const auto sha256 = text_field(object[name], "sha256", 16);
  if (!last4 || !sha256) {
    return std::nullopt;
  }
  return KeyPrint::recorded(*last4, *sha256);
}

std::optional<KeyHeader> key_header_named(std::string_view name) {
  for (KeyHeader which : k_key_headers) {
    if (is_header(name, which)) {
      return which;
    }
  }
  return std::nullopt;
}

// Return the milliseconds since the epoch of an RFC 3339 UTC time ("2026-12-03T10:59:58.123Z").
std::optional<long long> parse_time(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  long long milliseconds = 0;
  if (text.size() > 20 && text[19] == '.') {
    long long scale = 100;
    for (size_t i = 20; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, scale /= 10) {
      milliseconds += (text[i] - '0') * scale;
    }
  }
  return static_cast<long long>(timegm(&tm)) * 1000 + milliseconds;
}

// The evidence of one "denied" event: the facts of every key header it recorded, never a key.
ClientEvidence evidence_of(const json& event) {
  ClientEvidence evidence;
  evidence.method = text_field(event, "method", 16).value_or("GET");
  evidence.path = text_field(event, "path", k_shown_text).value_or("/");
  if (event.contains("headers") && event["headers"].is_array()) {
    for (const json& recorded : event["headers"]) {
      const auto which = key_header_named(text_field(recorded, "name", 32).value_or(""));
      if (!which) {
        continue;
      }
      KeyHeaderEvidence header;
      header.header = *which;
      header.key = key_field(recorded, "key");
      header.provider = text_field(recorded, "provider", 64);
      if (recorded.contains("findings") && recorded["findings"].is_array()) {
        for (const json& finding : recorded["findings"]) {
          const bool fail = text_field(finding, "severity", 8) == "fail";
          header.findings.push_back({*which, fail ? Severity::fail : Severity::warn,
                                     text_field(finding, "problem", k_shown_text).value_or(""),
                                     text_field(finding, "fix", k_shown_text).value_or("")});
        }
      }
      evidence.headers.push_back(std::move(header));
    }
  } else if (const auto read = key_header_named(text_field(event, "key_header", 32).value_or(""))) {
    // A record without the headers' details: the header read and its key's print, and the
    // names of the ones ignored.
    evidence.headers.push_back({*read, key_field(event, "key"), std::nullopt, {}, std::nullopt});
    if (event.contains("ignored_headers") && event["ignored_headers"].is_array()) {
      for (const json& name : event["ignored_headers"]) {
        if (const auto which = key_header_named(name.is_string() ? name.get<std::string>() : "")) {
          evidence.headers.push_back({*which, std::nullopt, std::nullopt, {}, std::nullopt});
        }
      }
    }
  }
  // In the order the proxy reads them, whatever order the record keeps.
  std::stable_sort(evidence.headers.begin(), evidence.headers.end(),
                   [](const KeyHeaderEvidence& a, const KeyHeaderEvidence& b) {
                     return static_cast<int>(a.header) < static_cast<int>(b.header);
                   });
  if (event.contains("matches_proxy_key") && event["matches_proxy_key"].is_boolean()) {
    evidence.matches_proxy_key = event["matches_proxy_key"].get<bool>();
  }
  const int status = event.contains("status") && event["status"].is_number_integer()
                         ? event["status"].get<int>()
                         : 401;
  const auto reason = text_field(event, "reason", 40);
  evidence.answer = std::to_string(status) + (reason ? " (" + *reason + ")" : "");
  return evidence;
}

void add_once(std::vector<std::string>& list, const std::string& item) {
  if (std::find(list.begin(), list.end(), item) == list.end()) {
    list.push_back(item);
  }
}

// Return how `provider` (provider_of_key's words, or a bare provider name) reads in a sentence.
std::string provider_key(const std::string& provider) {
  if (provider.starts_with("a ") || provider.starts_with("an ")) {
    return provider;
  }
  return "a key in " + provider + "'s format";
}

// Return a key for a sentence: "a key …cdef".
std::string a_key(const KeyPrint& key) {
  return key.last4.empty() ? "a short key" : "a key …" + key.last4;
}

} // namespace

std::optional<std::vector<RecordedClient>> parse_denials(std::string_view body) {
  const json answer = json::parse(body, nullptr, false);
  if (!answer.is_object() || !answer.contains("events") || !answer["events"].is_array()) {
    return std::nullopt;
  }
  const std::optional<long long> now = parse_time(text_field(answer, "now", 40).value_or(""));
  std::vector<RecordedClient> clients;
  std::vector<std::string> group_keys;
  // The record lists the newest first: a group's first event is its most recent.
  for (const json& event : answer["events"]) {
    if (text_field(event, "kind", 20).value_or("denied") != "denied") {
      continue;
    }
    const std::string address = text_field(event, "client", 64).value_or("(unknown address)");
    std::optional<std::string> user_agent;
    if (event.contains("user_agent") && event["user_agent"].is_string()) {
      user_agent = event["user_agent"].get<std::string>();
    }
    if (user_agent && user_agent->starts_with(k_probe_user_agent_product)) {
      continue; // the doctor's own probes, and `client show`'s
    }
    const std::optional<KeyPrint> key = key_field(event, "key");
    const std::string group_key = address + '\n' + user_agent.value_or("\n") + '\n' +
                                  (key ? key->last4 + ":" + key->sha256 : "");
    const auto found = std::find(group_keys.begin(), group_keys.end(), group_key);
    const std::string time = text_field(event, "time", 40).value_or("");
    RecordedClient* client = nullptr;
    if (found == group_keys.end()) {
      group_keys.push_back(group_key);
      RecordedClient& added = clients.emplace_back();
      added.address = address;
      added.user_agent = user_agent;
      added.name = client_name(user_agent);
      added.last = time;
      const std::optional<long long> at = parse_time(time);
      if (now && at) {
        added.seconds_ago = static_cast<long>(std::max(0LL, *now - *at) / 1000);
      }
      added.evidence = evidence_of(event);
      added.evidence.sender = added.name + " at " + address;
      client = &added;
    } else {
      client = &clients[static_cast<size_t>(found - group_keys.begin())];
    }
    ++client->requests;
    client->first = time;
    add_once(client->routes, text_field(event, "method", 16).value_or("?") + " " +
                                 text_field(event, "path", k_shown_text).value_or("?"));
    if (const auto reason = text_field(event, "reason", 40)) {
      add_once(client->reasons, *reason);
    }
  }
  return clients;
}

void read_recorded_denials(Context& context) {
  if (context.client || !context.reachable() || context.kind != ServerKind::agproxy) {
    return;
  }
  RecordedDenials& recorded = context.recorded;
  std::string url = context.target.base + "/agproxy/events?kind=denied";
  if (context.since_seconds) {
    url += "&since=" + std::to_string(*context.since_seconds);
    recorded.window = "in the last " + *context.options.since;
  }
  ProbeRequest request{"GET", url, {}, "", 0};
  if (const auto key = context.expected_key(); key && !key->empty()) {
    request.headers.emplace_back("Authorization", "Bearer " + *key);
  }
  recorded.trace.push_back("(the proxy's record of refused requests: the clients judged below)");
  const ProbeResponse response = context.probe(recorded.trace, request);
  if (response.error != TransportError::none || response.status == 404) {
    // A server that keeps no record (Antigravity Tools, an older agproxy): the walk goes on as
    // for it before, -v included.
    recorded.trace.clear();
    return;
  }
  if (response.status == 401) {
    recorded.unavailable = "the proxy did not show its record of refused requests: it refused " +
                           std::string(context.options.key ? "the key given" : "the config's key") +
                           " (" + response.header("x-agproxy-reason").value_or("401") + ")";
    return;
  }
  if (response.status == 403) {
    recorded.unavailable = "the proxy shows its record of refused requests to loopback clients "
                           "only: run the doctor on its machine";
    return;
  }
  auto clients = response.status == 200 ? parse_denials(response.body) : std::nullopt;
  if (!clients) {
    recorded.unavailable = "GET /agproxy/events answered " + std::to_string(response.status) +
                           " without a record of refused requests";
    return;
  }
  recorded.read = true;
  recorded.clients = std::move(*clients);
  if (!recorded.clients.empty()) {
    context.client = recorded.clients.front().evidence;
  }
}

std::string story_of(const RecordedClient& client, const std::optional<std::string>& proxy_key) {
  const ClientEvidence& evidence = client.evidence;
  std::string story = client.name + " at " + client.address;
  const KeyHeaderEvidence* read = evidence.read();
  if (!read) {
    return story + " sent no key";
  }
  // Whether a header carries the proxy key: compared by print when the key is known, else as
  // the server judged the header it read.
  auto is_proxy_key = [&](const KeyHeaderEvidence& header) -> std::optional<bool> {
    if (proxy_key && header.key) {
      return header.carries(*proxy_key);
    }
    if (&header == read) {
      return evidence.matches_proxy_key;
    }
    return std::nullopt;
  };
  const std::string name(header_name(read->header));
  const auto flaw =
      std::find_if(read->findings.begin(), read->findings.end(),
                   [](const HeaderFinding& f) { return f.severity == Severity::fail; });
  const std::optional<bool> right = is_proxy_key(*read);
  if (flaw != read->findings.end()) {
    story += " sent a malformed " + name + ": " + flaw->problem;
  } else if (!read->key) {
    story += " sent " + name + " without a key";
  } else if (right == true) {
    story += " sent " + name + " with the proxy key (" + read->key->shown + ")";
  } else if (read->provider) {
    story += " sent " + provider_key(*read->provider) + " (" + read->key->shown + ") in " + name +
             " instead of the proxy key";
  } else if (right == false) {
    story += " sent " + name + " (" + a_key(*read->key) + " that is not the proxy key)";
  } else {
    story += " sent " + name + " (" + a_key(*read->key) + ")";
  }
  std::vector<std::string> ignored;
  std::vector<std::string> right_ignored;
  for (size_t i = 1; i < evidence.headers.size(); ++i) {
    const std::string ignored_name(header_name(evidence.headers[i].header));
    ignored.push_back(ignored_name);
    if (is_proxy_key(evidence.headers[i]) == true) {
      right_ignored.push_back(ignored_name);
    }
  }
  if (ignored.size() == 1 && right_ignored.size() == 1) {
    story += "; its " + ignored[0] + ", which carries the proxy key, was ignored";
  } else if (!ignored.empty()) {
    story += "; its " + join(ignored, " and ") + (ignored.size() == 1 ? " was" : " were") +
             " ignored" +
             (right_ignored.empty() ? "" : " (" + right_ignored[0] + " carries the proxy key)");
  }
  if (std::find(client.reasons.begin(), client.reasons.end(), "proxy_api_key_empty") !=
      client.reasons.end()) {
    story += "; the proxy's api_key was empty, so it refused every key";
    return story;
  }
  // Where a coding agent's key comes from, and the one command that wires it to the proxy.
  if (const auto agent = setup_agent(client.name); agent && right != true) {
    if (*agent == "claude-code" && read->header == KeyHeader::authorization) {
      story += ". Claude Code sends Authorization from ANTHROPIC_AUTH_TOKEN or an apiKeyHelper "
               "(in its environment or ~/.claude/settings.json)";
    }
    story += ". 'agproxy client setup " + std::string(*agent) +
             "' points it at the proxy with the proxy key alone";
  }
  return story;
}

} // namespace agproxy::diag::doctor
