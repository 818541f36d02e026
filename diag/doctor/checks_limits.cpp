#include "diag/doctor/checks.hpp"
#include "server/auth/secret.hpp"
#include "server/upstream/routing.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace agproxy::diag::doctor {

namespace {

// Return what the server saw, or nothing with `check` left skipped and the reason in its summary.
const ServerView* server_view(Context& context, CheckResult& check) {
  if (!context.reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return nullptr;
  }
  const ServerView& view = context.observe(check.trace);
  if (!view.read()) {
    check.summary = "skipped: " + view.unavailable;
    return nullptr;
  }
  return &view;
}

using nlohmann::json;

// Return the family's routes in words, e.g. "the OpenAI routes".
std::string routes_of(Protocol family) {
  switch (family) {
  case Protocol::anthropic:
    return "the Anthropic routes";
  case Protocol::gemini:
    return "the Gemini routes";
  case Protocol::openai_responses:
    return "the OpenAI Responses route";
  case Protocol::openai:
    break;
  }
  return "the OpenAI routes";
}

// Return "…abcd", as the proxy shows a provider key.
std::string shown_key(const std::string& last4) {
  return "…" + (last4.empty() ? std::string("(short key)") : last4);
}

// Return the keys of `events`, each once, as "…abcd, …efgh".
std::string keys_of(const std::vector<const EventSeen*>& events) {
  std::vector<std::string> keys;
  for (const EventSeen* event : events) {
    const std::string key = shown_key(event->provider_key_last4);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      keys.push_back(key);
    }
  }
  return join(keys, ", ");
}

// Return "key …abcd" or "keys …abcd, …efgh" for the keys of `events`.
std::string key_phrase(const std::vector<const EventSeen*>& events) {
  const std::string keys = keys_of(events);
  return (keys.find(',') == std::string::npos ? "key " : "keys ") + keys;
}

// Return what kind of limit `event` records: "quota", "rate", "capacity" or "unknown".
std::string scope_of(const EventSeen& event) {
  if (event.limit && !event.limit->scope.empty() && event.limit->scope != "unknown") {
    return event.limit->scope;
  }
  return event.status == 529 || event.status == 503 ? "capacity" : "unknown";
}

// Return whether `event` records a provider's limit: its 429, or an overload.
bool is_provider_limit(const EventSeen& event) {
  if (!event.from_provider || !event.is_attempt()) {
    return false;
  }
  return event.kind == "rate_limited" || (event.limit && event.limit->scope == "capacity");
}

// Return the events' window in words, " (in the last 10m)" or "".
std::string window_note(const ServerView& view) {
  return view.window.empty() ? "" : " (" + view.window + ")";
}

// Return the upstreams a 429 check judges: the route's, else every one the server runs.
std::vector<const UpstreamSeen*> judged_upstreams(const Context& context,
                                                  const StatusSeen& status) {
  std::vector<const UpstreamSeen*> out;
  for (const UpstreamSeen& upstream : status.upstreams) {
    if (!context.route_upstream || upstream.name == *context.route_upstream) {
      out.push_back(&upstream);
    }
  }
  return out;
}

// Return whether a model_map entry `model` → `real` added to upstream `candidate` would still
// leave `model` (asked on `family`'s routes) to an upstream before it, by the server's routing.
bool map_needs_move(const std::vector<Upstream>& upstreams, size_t candidate, Protocol family,
                    const std::string& model, const std::string& real) {
  std::vector<Upstream> edited = upstreams;
  edited[candidate].model_map.insert(edited[candidate].model_map.begin(), {model, real});
  const auto route = choose_upstream(edited, family, model, true);
  return !route || route->upstream != candidate;
}

// Return a model `upstream` serves by name: its first literal `models` entry or model_map target.
std::optional<std::string> a_model_of(const Upstream& upstream) {
  for (const std::string& pattern : upstream.models) {
    if (pattern.find_first_of("*?") == std::string::npos) {
      return pattern;
    }
  }
  if (!upstream.model_map.empty()) {
    return upstream.model_map.front().second;
  }
  return std::nullopt;
}

// Return the provider's rate-limit headers in `response`, "name: value" each.
std::vector<std::string> rate_limit_headers(const ProbeResponse& response) {
  std::vector<std::string> out;
  for (const auto& [name, value] : response.headers) {
    if (name.starts_with("x-ratelimit-") || name.starts_with("anthropic-ratelimit-") ||
        name.starts_with("ratelimit") || name == "retry-after") {
      out.push_back(name + ": " + value);
    }
  }
  return out;
}

} // namespace

CheckResult check_upstream_route(Context& context, CheckResult check) {
  const ServerView* view = context.reachable() ? &context.observe(check.trace) : nullptr;
  // The model: --model, else the one the last rate-limited request asked for.
  const EventSeen* latest = nullptr;
  if (view) {
    for (auto it = view->events.rbegin(); it != view->events.rend(); ++it) {
      if (it->kind == "rate_limited" && !it->model.empty() &&
          (!context.options.model || it->model == *context.options.model)) {
        latest = &*it;
        break;
      }
    }
  }
  std::string source;
  if (context.options.model) {
    context.model = *context.options.model;
  } else if (latest) {
    context.model = latest->model;
    source = " (the model of the last rate-limited request, at " + clock_time(latest->time) + ")";
  } else {
    check.summary =
        "skipped: no model known: pass --model M, the model the failing client asks for";
    if (view && view->read()) {
      check.summary +=
          " (no rate-limited request in the server's events" + window_note(*view) + " names one)";
    }
    return check;
  }
  const std::string& model = *context.model;
  context.model_family = latest ? route_protocol(latest->path) : family_of_model(model);
  if (!context.settings) {
    check.summary = "skipped: no config read, so the route of " + model +
                    " cannot be worked out (pass the proxy's file: --config PATH)";
    return check;
  }
  const std::vector<Upstream>& upstreams = context.settings->upstreams;
  const Protocol family = context.model_family;
  if (upstreams.empty()) {
    check.status = CheckStatus::warn;
    check.summary = "the config has no upstream: " + model + " goes to no provider";
    check.detail = "Without upstreams, agproxy answers only its echo model; a request for " +
                   model + " gets its 404 (model_not_found), not a 429.";
    check.fix =
        "add the provider to proxy.upstreams (agproxy config show" + context.config_flag() + ")";
    return check;
  }
  const auto route = choose_upstream(upstreams, family, model, true);
  if (!route) {
    check.status = CheckStatus::warn;
    check.summary = "no upstream serves " + model + " on " + routes_of(family) +
                    ": its requests get agproxy's 404 (model_not_found), not a 429";
    check.fix = "add " + model +
                " (or a glob) to the \"models\" of the upstream that serves it, "
                "in proxy.upstreams (agproxy config show" +
                context.config_flag() + ")";
    return check;
  }
  const Upstream& chosen = upstreams[route->upstream];
  context.route_upstream = chosen.name;
  std::string how;
  if (const auto real = map_model(chosen, model)) {
    how = "its model_map sends it as " + *real;
  } else if (chosen.models.empty()) {
    how = "it serves every model of its family";
  } else {
    for (const std::string& pattern : chosen.models) {
      if (glob_match(pattern, model)) {
        how = "its models '" + pattern + "'";
        break;
      }
    }
  }
  std::vector<size_t> others; // other upstreams that would serve it (all after the chosen one)
  for (size_t i = 0; i < upstreams.size(); ++i) {
    if (i != route->upstream && choose_upstream({upstreams[i]}, family, model, true)) {
      others.push_back(i);
    }
  }
  const UpstreamSeen* seen = view && view->read() ? view->status->upstream(chosen.name) : nullptr;
  const bool limited = seen && !seen->keys.empty() && seen->count("active") == 0;
  check.summary = model + source + " on " + routes_of(family) + " goes to upstream '" +
                  chosen.name + "' (" + how + ")";
  std::vector<std::string> other_names;
  for (size_t i : others) {
    other_names.push_back("'" + upstreams[i].name + "'");
  }
  if (view && view->read() && !seen) {
    check.detail = "The server runs no upstream named '" + chosen.name +
                   "': it runs other settings than the file read (a reload refused? agproxy "
                   "config validate" +
                   context.config_flag() + "). ";
  }
  if (limited && !others.empty()) {
    check.status = CheckStatus::fail;
    check.summary += ", whose keys all rest or are out; " + join(other_names, ", ") +
                     " also serve" + (others.size() == 1 ? "s" : "") + " it but never get" +
                     (others.size() == 1 ? "s" : "") + " it while '" + chosen.name +
                     "' comes first";
    check.detail += "A model goes to the first upstream in file order that serves it; agproxy "
                    "does not fail over to the next when that one is limited.";
    check.fix = "move '" + upstreams[others.front()].name + "' above '" + chosen.name +
                "' in proxy.upstreams, or take " + model + " out of '" + chosen.name +
                "''s models (agproxy config show" + context.config_flag() + ")";
    return check;
  }
  if (limited) {
    check.status = CheckStatus::warn;
    check.summary += ", whose keys all rest or are out, and no other upstream serves it";
    check.detail +=
        "While '" + chosen.name + "' is limited, every request for " + model + " gets its 429s.";
    // The first other upstream could take the model through a model_map entry.
    const size_t candidate = route->upstream == 0 ? 1 : 0;
    if (candidate >= upstreams.size()) {
      const json entry = {{"name", chosen.name + "-2"},
                          {"protocol", std::string(to_string(chosen.protocol))},
                          {"base_url", mask_url(chosen.base_url)},
                          {"api_keys", json::array({"env:OTHER_API_KEY"})},
                          {"models", json::array({model})}};
      check.fix = "add an upstream that serves " + model +
                  " (another account or provider) above '" + chosen.name +
                  "' in proxy.upstreams, e.g. " + entry.dump() + "; or more keys (upstream.quota)";
      return check;
    }
    const Upstream& other = upstreams[candidate];
    const auto real = a_model_of(other);
    const std::string target = real.value_or("MODEL");
    check.fix = "map " + model +
                " to another upstream: add \"model_map\": " + json{{model, target}}.dump() +
                " to '" + other.name + "' in proxy.upstreams" +
                (real ? "" : " (MODEL: a model '" + other.name + "' serves)");
    if (map_needs_move(upstreams, candidate, family, model, target)) {
      check.fix += ", and move '" + other.name + "' above '" + chosen.name +
                   "' (the first upstream that serves a model gets it)";
    }
    return check;
  }
  check.status = CheckStatus::pass;
  check.detail += others.empty()
                      ? "No other upstream serves " + model + ": whenever '" + chosen.name +
                            "' is limited, its clients get 429s."
                      : join(other_names, ", ") + " also serve" + (others.size() == 1 ? "s" : "") +
                            " it, but only while '" + chosen.name + "' does not come first.";
  return check;
}

CheckResult check_upstream_quota(Context& context, CheckResult check) {
  const ServerView* observed = server_view(context, check);
  if (observed == nullptr) {
    return check;
  }
  const ServerView& view = *observed;
  const StatusSeen& status = *view.status;
  const auto judged = [&](const std::string& upstream) {
    return !context.route_upstream || upstream == *context.route_upstream;
  };
  // The newest limit each key met, oldest key first.
  std::vector<const EventSeen*> newest;
  size_t limits = 0;
  for (const EventSeen& event : view.events) {
    if (!is_provider_limit(event) || !judged(event.upstream)) {
      continue;
    }
    ++limits;
    auto same = std::find_if(newest.begin(), newest.end(), [&](const EventSeen* seen) {
      return seen->upstream == event.upstream &&
             seen->provider_key_last4 == event.provider_key_last4;
    });
    if (same != newest.end()) {
      newest.erase(same);
    }
    newest.push_back(&event);
  }
  const std::string scope_text = context.route_upstream
                                     ? "upstream '" + *context.route_upstream + "'"
                                     : std::string("any upstream");
  if (newest.empty()) {
    check.status = CheckStatus::pass;
    check.summary =
        "no provider 429 for " + scope_text + " in the server's events" + window_note(view);
    return check;
  }
  const auto in_force = [&](const EventSeen& event) {
    const UpstreamSeen* upstream = status.upstream(event.upstream);
    const KeySeen* key = upstream ? upstream->key(event.provider_key_last4) : nullptr;
    const auto ends = event.limit_ends();
    return (key && key->state == "resting") || (ends && *ends > view.now);
  };
  const auto ends_text = [&](const std::vector<const EventSeen*>& events) -> std::string {
    std::optional<SystemTime> soonest;
    for (const EventSeen* event : events) {
      const auto ends = event->limit_ends();
      if (ends && (!soonest || *ends < *soonest)) {
        soonest = ends;
      }
    }
    return soonest ? time_and_distance(*soonest, view.now) : std::string();
  };
  // When agproxy lets the first of these keys try again (its rest, as the server says).
  const auto rest_end = [&](const std::vector<const EventSeen*>& events) -> std::string {
    std::optional<SystemTime> soonest;
    for (const EventSeen* event : events) {
      const UpstreamSeen* upstream = status.upstream(event->upstream);
      const KeySeen* key = upstream ? upstream->key(event->provider_key_last4) : nullptr;
      if (key && key->until && (!soonest || *key->until < *soonest)) {
        soonest = key->until;
      }
    }
    return soonest ? time_and_distance(*soonest, status.now) : std::string();
  };
  const auto evidence = [](const std::vector<const EventSeen*>& events) {
    std::vector<std::string> out;
    for (const EventSeen* event : events) {
      if (event->limit && !event->limit->detail.empty() &&
          std::find(out.begin(), out.end(), event->limit->detail) == out.end()) {
        out.push_back(event->limit->detail);
      }
    }
    return join(out, "; ");
  };
  const std::string edit = " (agproxy config show" + context.config_flag() + ")";

  // A quota used up is the cause while it lasts, whoever answers the 429s meanwhile.
  std::vector<const EventSeen*> quotas, past_quotas;
  for (const EventSeen* event : newest) {
    if (scope_of(*event) == "quota") {
      (in_force(*event) ? quotas : past_quotas).push_back(event);
    }
  }
  if (!quotas.empty()) {
    const EventSeen& last = *quotas.back();
    const std::string said = evidence(quotas);
    std::string resets = ends_text(quotas);
    std::string when = "; it resets at " + resets;
    if (resets.empty()) {
      resets = rest_end(quotas);
      when = "; it did not say when it resets" +
             (resets.empty() ? std::string() : " (agproxy tries again at " + resets + ")");
    }
    check.status = CheckStatus::fail;
    check.summary = "the provider's quota is used up: upstream '" + last.upstream + "', " +
                    key_phrase(quotas) + (said.empty() ? "" : " (" + said + ")") + when;
    check.detail = "A quota (per day, or the plan's credit) is not a rate limit: retrying does not "
                   "help until it resets. agproxy rests the key meanwhile, so the 429s clients get "
                   "may be its own (all keys resting); the cause is this quota. " +
                   std::to_string(limits) + " provider limit answer" + (limits == 1 ? "" : "s") +
                   " in the events" + window_note(view) + ".";
    check.fix = "add a key from another project or account to the api_keys of '" + last.upstream +
                "' in proxy.upstreams" + edit + ", or map the model to another upstream (see " +
                "upstream.route)" + (resets.empty() ? "" : ", or wait until " + resets);
    return check;
  }

  // No capacity for the model is the cause while it lasts: other keys meet the same.
  std::vector<const EventSeen*> capacity;
  for (const EventSeen* event : newest) {
    if (scope_of(*event) == "capacity" && in_force(*event)) {
      capacity.push_back(event);
    }
  }
  if (!capacity.empty()) {
    const EventSeen& last = *capacity.back();
    const std::string said = evidence(capacity);
    const std::string again =
        !ends_text(capacity).empty() ? ends_text(capacity) : rest_end(capacity);
    check.status = CheckStatus::fail;
    check.summary = "the provider has no capacity for " +
                    (last.model.empty() ? std::string("the model") : last.model) +
                    " right now (upstream '" + last.upstream + "', " + key_phrase(capacity) +
                    (said.empty() ? "" : ": " + said) + ")" +
                    (again.empty() ? "" : "; agproxy tries again at " + again);
    check.detail = "Model capacity is the provider's, not your keys': other keys meet the same, "
                   "and agproxy rests the key meanwhile, so the 429s clients get may be its own.";
    check.fix = (again.empty() ? "retry later" : "retry after " + again) +
                ", or ask for another model (map it to another upstream: see upstream.route)";
    return check;
  }

  // A limit whose answer reached the client: the last request's every try met it.
  const RequestSeen* passed = nullptr;
  const std::vector<RequestSeen> requests = view.requests();
  for (auto it = requests.rbegin(); it != requests.rend(); ++it) {
    if (it->attempts.empty() || !judged(it->upstream)) {
      continue;
    }
    if (it->passed_on && is_provider_limit(*it->attempts.back())) {
      passed = &*it;
    }
    break; // only the newest request of the upstream counts
  }
  if (passed) {
    const EventSeen& last = *passed->attempts.back();
    const std::string scope = scope_of(last);
    const std::string said = evidence({&last});
    const std::string retry =
        passed->retry_after ? ", with Retry-After " + std::to_string(*passed->retry_after) + " s"
                            : "";
    const std::string resets = ends_text({&last});
    check.status = CheckStatus::fail;
    if (scope == "capacity") {
      check.summary = "the provider has no capacity for " +
                      (last.model.empty() ? std::string("the model") : last.model) +
                      " right now, and its " + std::to_string(last.status) +
                      " reached the client (upstream '" + last.upstream + "', " +
                      key_phrase(passed->attempts) + (said.empty() ? "" : ": " + said) + ")";
      check.detail = "Model capacity is the provider's, not your keys': other keys meet the same.";
      check.fix = (resets.empty() ? "retry later" : "retry after " + resets) +
                  ", or ask for another model (map it to another upstream: see upstream.route)";
      return check;
    }
    check.summary = "the provider rate-limits upstream '" + last.upstream +
                    "' and its 429 reached the client: " + key_phrase(passed->attempts) +
                    (passed->attempts.size() > 1 ? " all" : "") + " answered 429" +
                    (scope == "rate" ? " (a rate limit" + (said.empty() ? "" : ": " + said) + ")"
                                     : " (it did not say which limit)") +
                    (resets.empty() ? "" : "; retry after " + resets);
    check.detail = "agproxy tried " + std::to_string(passed->attempts.size()) +
                   (passed->attempts.size() == 1 ? " key" : " keys") + " for the request of " +
                   client_label(passed->client, passed->user_agent) + " at " +
                   clock_time(passed->end) + " and passed the provider's last 429 on" + retry + ".";
    check.fix = "let the client wait as Retry-After says before it retries; add keys from other "
                "projects or accounts to the api_keys of '" +
                last.upstream + "' in proxy.upstreams" + edit +
                " so that agproxy rotates past the limit; or map the model to another upstream "
                "(see upstream.route)";
    return check;
  }

  // Limits agproxy absorbed: by another key, or by resting every key (upstream.keys says).
  std::vector<const EventSeen*> current, past;
  for (const EventSeen* event : newest) {
    if (scope_of(*event) != "quota") {
      (in_force(*event) ? current : past).push_back(event);
    }
  }
  const auto kinds = [&](const std::vector<const EventSeen*>& events) {
    std::vector<std::string> out;
    for (const EventSeen* event : events) {
      const std::string scope = scope_of(*event);
      const std::string word = scope == "rate"       ? "a rate limit"
                               : scope == "capacity" ? "no capacity"
                                                     : "429 (kind not said)";
      if (std::find(out.begin(), out.end(), word) == out.end()) {
        out.push_back(word);
      }
    }
    return join(out, ", ");
  };
  if (!current.empty()) {
    const EventSeen& last = *current.back();
    const std::string said = evidence(current);
    const std::string resets = ends_text(current);
    check.status = CheckStatus::warn;
    check.summary = "the provider limits upstream '" + last.upstream + "': " + key_phrase(current) +
                    " met " + kinds(current) + (said.empty() ? "" : " (" + said + ")") +
                    (resets.empty() ? "" : "; it lifts at " + resets) + "; agproxy rests the key" +
                    (current.size() > 1 ? "s" : "") + " meanwhile";
    check.detail = "A rate limit lifts by itself; agproxy sends the next requests with other keys, "
                   "and answers 429 itself when every key rests (upstream.keys).";
    check.fix = "add keys from other projects or accounts to the api_keys of '" + last.upstream +
                "' in proxy.upstreams" + edit + " to share the load";
    return check;
  }
  if (!past_quotas.empty()) {
    const EventSeen& last = *past_quotas.back();
    check.status = CheckStatus::warn;
    check.summary = "the provider's quota was used up (upstream '" + last.upstream + "', " +
                    key_phrase(past_quotas) + ", at " + clock_time(last.time) +
                    "); it has reset since";
    check.detail = evidence(past_quotas);
    check.fix = "if clients still get 429, add a key from another project or account to the "
                "api_keys of '" +
                last.upstream + "'" + edit;
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "no provider limit in force for " + scope_text + "; earlier: " + kinds(past) +
                  " on " + key_phrase(past) + ", lifted since";
  return check;
}

CheckResult check_upstream_keys(Context& context, CheckResult check) {
  const ServerView* observed = server_view(context, check);
  if (observed == nullptr) {
    return check;
  }
  const ServerView& view = *observed;
  const StatusSeen& status = *view.status;
  const std::vector<const UpstreamSeen*> upstreams = judged_upstreams(context, status);
  if (upstreams.empty()) {
    check.status = CheckStatus::pass;
    check.summary = context.route_upstream
                        ? "the server runs no upstream named '" + *context.route_upstream + "'"
                        : "the server runs no upstream";
    return check;
  }
  const std::string edit = " (agproxy config show" + context.config_flag() + ")";
  const auto key_line = [&](const KeySeen& key) {
    std::string line = shown_key(key.last4) + " " + key.state;
    if (key.state != "active" && key.until) {
      line += " until " + time_and_distance(*key.until, status.now);
    }
    if (!key.why.empty()) {
      line += ", " + key.why;
    }
    if (key.last_status) {
      line += ", last answered " + std::to_string(*key.last_status);
    }
    return line;
  };
  const UpstreamSeen* exhausted = nullptr; // every key resting or out
  const UpstreamSeen* partly = nullptr;
  std::vector<std::string> lines, out_fixes;
  for (const UpstreamSeen* upstream : upstreams) {
    std::vector<std::string> keys;
    for (const KeySeen& key : upstream->keys) {
      keys.push_back(key_line(key));
      if (key.state == "out") {
        out_fixes.push_back(
            "replace the key " + shown_key(key.last4) + " in the api_keys of '" + upstream->name +
            "': the provider refused it" +
            (key.last_status ? " (" + std::to_string(*key.last_status) + ")" : std::string()));
      }
    }
    lines.push_back("'" + upstream->name + "': " +
                    (keys.empty() ? std::string("no keys (the provider is asked without one)")
                                  : join(keys, "; ")));
    if (!upstream->keys.empty() && upstream->count("active") == 0) {
      exhausted = exhausted ? exhausted : upstream;
    } else if (upstream->count("active") < upstream->keys.size()) {
      partly = partly ? partly : upstream;
    }
  }
  check.detail = join(lines, ". ") + ".";
  const auto counts = [](const UpstreamSeen& upstream) {
    return std::to_string(upstream.count("active")) + " active, " +
           std::to_string(upstream.count("resting")) + " resting, " +
           std::to_string(upstream.count("out")) + " out";
  };
  if (exhausted) {
    std::optional<SystemTime> first;
    for (const KeySeen& key : exhausted->keys) {
      if (key.until && (!first || *key.until < *first)) {
        first = key.until;
      }
    }
    check.status = CheckStatus::fail;
    check.summary =
        "every key of upstream '" + exhausted->name + "' rests or is out (" + counts(*exhausted) +
        "): the 429 is agproxy's own (all_keys_resting)" +
        (first ? "; the first key comes back at " + time_and_distance(*first, status.now)
               : std::string());
    std::vector<std::string> fixes = out_fixes;
    fixes.push_back(first ? "wait until " + clock_time(*first) + " (clients get it as Retry-After)"
                          : std::string("wait"));
    fixes.push_back("add keys from other projects or accounts to the api_keys of '" +
                    exhausted->name + "'" + edit);
    check.fix = join(fixes, "; ");
    return check;
  }
  if (partly) {
    check.status = CheckStatus::warn;
    check.summary = "upstream '" + partly->name + "': " + counts(*partly) +
                    "; agproxy sends requests with the active keys";
    check.fix = out_fixes.empty() ? "" : join(out_fixes, "; ") + edit;
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary =
      upstreams.size() == 1
          ? "upstream '" + upstreams.front()->name + "': " + counts(*upstreams.front())
          : "every key of the " + std::to_string(upstreams.size()) + " upstreams is active";
  return check;
}

CheckResult check_client_retry(Context& context, CheckResult check) {
  const ServerView* observed = server_view(context, check);
  if (observed == nullptr) {
    return check;
  }
  const ServerView& view = *observed;
  struct Early {
    const RequestSeen* after; // the request answered 429
    const RequestSeen* retry; // the next request of that client to the same route
    long long gap_ms;
  };
  const std::vector<RequestSeen> requests = view.requests();
  std::map<std::string, std::vector<Early>> early; // by client
  size_t limited = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const RequestSeen& first = requests[i];
    if (first.answered != 429 || !first.retry_after || *first.retry_after <= 0) {
      continue;
    }
    ++limited;
    for (size_t j = i + 1; j < requests.size(); ++j) {
      const RequestSeen& next = requests[j];
      if (next.client != first.client || next.user_agent != first.user_agent ||
          next.method != first.method || next.path != first.path || next.model != first.model) {
        continue;
      }
      const long long gap_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(next.start - first.end).count();
      if (gap_ms < *first.retry_after * 1000) {
        early[first.client + "\n" + first.user_agent].push_back({&first, &next, gap_ms});
      }
      break;
    }
  }
  if (early.empty()) {
    check.status = CheckStatus::pass;
    check.summary =
        limited == 0
            ? "no client got a 429 with Retry-After in the server's events" + window_note(view)
            : "no client retried sooner than its 429's Retry-After said (" +
                  std::to_string(limited) + " such 429" + (limited == 1 ? "" : "s") +
                  (view.window.empty() ? "" : " " + view.window) + ")";
    return check;
  }
  const std::vector<Early>* worst = nullptr;
  for (const auto& [client, retries] : early) {
    worst = !worst || retries.size() > worst->size() ? &retries : worst;
  }
  const Early& example = worst->back();
  const bool met_429 = std::any_of(worst->begin(), worst->end(), [](const Early& retry) {
    return retry.retry->answered == 429 || !retry.retry->attempts.empty();
  });
  char gap[32];
  if (example.gap_ms < 1000) {
    std::snprintf(gap, sizeof gap, "%lld ms", example.gap_ms);
  } else {
    std::snprintf(gap, sizeof gap, "%.1f s", static_cast<double>(example.gap_ms) / 1000);
  }
  const std::string client = client_label(example.after->client, example.after->user_agent);
  const std::string wait = std::to_string(*example.after->retry_after);
  check.status = met_429 || worst->size() > 1 ? CheckStatus::fail : CheckStatus::warn;
  check.summary = client + " retried " + gap + " after a 429 that said Retry-After " + wait +
                  " s (" + example.after->method + " " + example.after->path +
                  (example.after->model.empty() ? "" : ", " + example.after->model) + ")" +
                  (worst->size() > 1 ? ", " + std::to_string(worst->size()) + " times" : "") +
                  window_note(view);
  check.detail = "An early retry meets the same limit (and counts against a provider's); it was " +
                 std::string(example.retry->answered == 429
                                 ? "answered 429 again"
                                 : "answered " + (example.retry->answered
                                                      ? std::to_string(*example.retry->answered)
                                                      : std::string("(not recorded)"))) +
                 ".";
  if (early.size() > 1) {
    check.detail += " " + std::to_string(early.size() - 1) + " other client" +
                    (early.size() == 2 ? " did" : "s did") + " the same.";
  }
  check.fix = "make the client wait as Retry-After says (" + wait +
              " s here) before it retries: check its retry and backoff settings, and that no "
              "loop around it retries at once";
  return check;
}

CheckResult check_upstream_probe(Context& context, CheckResult check) {
  if (!context.options.probe_model) {
    check.summary = "skipped: pass --probe-model MODEL to send one request through the proxy (it "
                    "may cost a provider call)";
    return check;
  }
  if (!context.reachable()) {
    check.summary = "skipped: no HTTP answer at the target";
    return check;
  }
  const std::string& model = *context.options.probe_model;
  const ProbeRequest request = context.model_request(model);
  const ProbeResponse response = context.probe(check.trace, request);
  const std::string sent = "one request for " + model + " through the proxy: ";
  if (response.error != TransportError::none) {
    check.status = CheckStatus::warn;
    check.summary = sent + "no answer (" + response.error_text + ")";
    return check;
  }
  const std::string upstream = response.header("x-agproxy-upstream").value_or("");
  const std::string key = response.header("x-agproxy-key").value_or("");
  const std::string retry_after = response.header("retry-after").value_or("");
  const std::string reason = response.header("x-agproxy-reason").value_or("");
  std::string where;
  if (!upstream.empty()) {
    where = " (upstream '" + upstream + "'" + (key.empty() ? "" : ", key " + key) + ")";
  }
  const std::vector<std::string> limits = rate_limit_headers(response);
  check.detail = limits.empty() ? "No rate-limit headers came back."
                                : "Rate-limit headers: " + join(limits, ", ") + ".";
  const std::string status = std::to_string(response.status);
  if (response.status >= 200 && response.status < 300) {
    check.status = CheckStatus::pass;
    check.summary = sent + status + where;
    return check;
  }
  check.detail = response.body.substr(0, 300) + " " + check.detail;
  if (response.status == 429 && reason == "too_many_auth_failures") {
    check.status = CheckStatus::fail;
    check.summary = sent + "429 from agproxy's brute-force guard (Retry-After " + retry_after +
                    " s): see throttle.guard";
    return check;
  }
  if (response.status == 429 && response.body.find("all_keys_resting") != std::string::npos) {
    check.status = CheckStatus::fail;
    check.summary = sent +
                    "429 from agproxy itself: every key of the upstream rests (Retry-After " +
                    retry_after + " s); see upstream.keys";
    return check;
  }
  if (response.status == 429 || response.status == 529 || response.status == 503) {
    check.status = CheckStatus::fail;
    check.summary = sent + status + " from the provider" + where +
                    (retry_after.empty() ? "" : ", Retry-After " + retry_after + " s") +
                    "; see upstream.quota";
    return check;
  }
  check.status = CheckStatus::warn;
  if (context.is_proxy_401(response)) {
    check.summary = sent + "the proxy refused the doctor's key (" +
                    (reason.empty() ? std::string("401") : reason) + "): agproxy doctor 401" +
                    context.config_flag();
    return check;
  }
  check.summary = sent + status + where;
  return check;
}

} // namespace agproxy::diag::doctor
