#include "diag/doctor/checks.hpp"

namespace agproxy::diag::doctor {

namespace {

std::string name_of(const KeyHeaderEvidence& header) {
  return std::string(header_name(header.header));
}

} // namespace

CheckResult check_headers_conflict(Context& context, CheckResult check) {
  const RecordedDenials& recorded = context.recorded;
  check.trace = recorded.trace;
  if (!context.client) {
    const std::string pass_headers = "pass the failing client's headers with -H 'Name: value' "
                                     "(repeatable) or --curl '<its curl command>'";
    if (recorded.read) {
      check.summary = "skipped: the proxy recorded no refused request" +
                      (recorded.window.empty() ? "" : " " + recorded.window) + "; " + pass_headers;
    } else {
      check.summary = "skipped: " + pass_headers +
                      (recorded.unavailable.empty() ? "" : " (" + recorded.unavailable + ")");
    }
    return check;
  }
  const std::vector<KeyHeaderEvidence>& present = context.client->headers;
  if (present.size() <= 1) {
    check.status = CheckStatus::pass;
    check.summary =
        present.empty() ? "no auth header sent" : "one auth header (" + name_of(present[0]) + ")";
    return check;
  }
  std::vector<std::string> names;
  bool one_key = true;
  for (const KeyHeaderEvidence& header : present) {
    names.push_back(name_of(header));
    one_key = one_key && header.same_key_as(present[0]);
  }
  const std::string read = name_of(present[0]);
  if (one_key) {
    check.status = CheckStatus::pass;
    check.summary = join(names, ", ") + " carry the same key; " + read + " is read";
    return check;
  }
  const auto key = context.configured_key();
  std::optional<std::string> right_ignored;
  for (size_t i = 1; i < present.size(); ++i) {
    if (key && present[i].carries(*key)) {
      right_ignored = name_of(present[i]);
    }
  }
  const std::vector<std::string> ignored(names.begin() + 1, names.end());
  const std::string precedence = "The proxy reads Authorization, then x-api-key, then "
                                 "x-goog-api-key, and uses the first present: here " +
                                 read + "; " + join(ignored, " and ") +
                                 (ignored.size() == 1 ? " is" : " are") + " never consulted.";
  if (key && present[0].carries(*key)) {
    check.status = CheckStatus::warn;
    check.summary = "several auth headers with different keys; " + read + " (read first) is right";
    check.detail = precedence;
    check.fix = "send only '" + read + "'";
    return check;
  }
  check.status = CheckStatus::fail;
  check.summary = read + " is read first and its key is wrong" +
                  (right_ignored ? "; your correct " + *right_ignored + " is never consulted"
                                 : "; the headers carry different keys");
  check.detail = precedence;
  check.fix = right_ignored ? "remove the " + read + " header (or put the proxy key in it)"
                            : "send one header with the proxy key: 'Authorization: Bearer <key>'";
  return check;
}

CheckResult check_headers_malformed(Context& context, CheckResult check) {
  if (!context.client) {
    check.summary = "skipped: no client headers (-H or --curl)";
    return check;
  }
  std::vector<HeaderFinding> failures;
  std::vector<HeaderFinding> warnings;
  bool first = true;
  for (const KeyHeaderEvidence& header : context.client->headers) {
    for (const HeaderFinding& finding : header.findings) {
      // A flaw in a header the proxy never reads cannot cause the 401.
      (finding.severity == Severity::fail && first ? failures : warnings).push_back(finding);
    }
    first = false;
  }
  auto describe = [](const std::vector<HeaderFinding>& findings) {
    std::vector<std::string> lines;
    for (const HeaderFinding& f : findings) {
      lines.push_back(std::string(header_name(f.header)) + ": " + f.problem);
    }
    return join(lines, "; ");
  };
  if (!failures.empty()) {
    check.status = CheckStatus::fail;
    check.summary = failures.front().problem;
    check.detail = describe(failures) + (warnings.empty() ? "" : "; also: " + describe(warnings));
    check.fix = failures.front().fix;
  } else if (!warnings.empty()) {
    check.status = CheckStatus::warn;
    check.summary = warnings.front().problem;
    check.detail = describe(warnings);
    check.fix = warnings.front().fix;
  } else {
    check.status = CheckStatus::pass;
    check.summary = "the auth headers are well-formed";
  }
  return check;
}

CheckResult check_headers_foreign_key(Context& context, CheckResult check) {
  if (!context.client) {
    check.summary = "skipped: no client headers (-H or --curl)";
    return check;
  }
  const KeyHeaderEvidence* read = context.client->read();
  if (!read || !read->key) {
    check.status = CheckStatus::pass;
    check.summary = "the client sends no key";
    return check;
  }
  const auto key = context.configured_key();
  if (key && read->carries(*key)) {
    check.status = CheckStatus::pass;
    check.summary = "the client sends the proxy key";
    return check;
  }
  if (read->provider) {
    check.status = CheckStatus::fail;
    check.summary = "the client sends " + *read->provider + " (" + read->key->shown +
                    ") instead of the proxy key";
    check.detail = "Clients authenticate to agproxy with the proxy key; provider keys belong in "
                   "proxy.upstreams[].api_keys, where agproxy injects them.";
    check.fix = "give the client the proxy key: agproxy key show --reveal" + context.config_flag();
    return check;
  }
  check.status = CheckStatus::pass;
  check.summary = "the client's key is not in a provider's format";
  return check;
}

CheckResult check_headers_key_mismatch(Context& context, CheckResult check) {
  if (!context.client) {
    check.summary = "skipped: no client headers (-H or --curl)";
    return check;
  }
  const KeyHeaderEvidence* read = context.client->read();
  if (!read || !read->key) {
    check.summary = "skipped: the client sends no key";
    return check;
  }
  const auto key = context.expected_key();
  std::string observed;
  if (context.reachable() && !context.client->replay.empty()) {
    // Evidence: replay the client's key headers on a read-only route and compare with the
    // prediction. Values with CR/LF are not replayed: they would break the request itself.
    ProbeRequest replay{"GET", context.target.base + "/v1/models", {}, "", 0};
    bool safe = true;
    for (const ClientHeader& header : context.client->replay) {
      safe = safe && header.value.find_first_of("\r\n") == std::string::npos;
      replay.headers.emplace_back(header.name, header.value);
    }
    if (safe) {
      const ProbeResponse response = context.probe(check.trace, replay);
      if (response.error == TransportError::none) {
        observed =
            " The server answers these headers with " + std::to_string(response.status) +
            (response.header("x-agproxy-reason") ? " (" + *response.header("x-agproxy-reason") + ")"
                                                 : std::string()) +
            ".";
      }
    }
  }
  if (context.client->answer) {
    observed = " The server answered it with " + *context.client->answer + ".";
  }
  const std::string which = context.options.key ? "given" : "configured";
  if (!key && context.client->matches_proxy_key == false) {
    check.status = CheckStatus::fail;
    check.summary = "the client's key " + read->key->shown + " is not the proxy key";
    check.detail =
        "Read from " + name_of(*read) + "; the server compared it with its own key." + observed;
    check.fix = "use the proxy key: agproxy key show --reveal" + context.config_flag();
    return check;
  }
  if (!key) {
    check.summary = "skipped: no configured key to compare with (pass --config or --key)";
    check.detail = observed;
    return check;
  }
  if (read->carries(*key)) {
    check.status = CheckStatus::pass;
    check.summary = "the client sends the " + which + " key (" + describe_key(*key) + ")";
    check.detail = observed;
    return check;
  }
  check.status = CheckStatus::fail;
  check.summary = "the client's key " + read->key->shown + " is not the " + which + " key " +
                  describe_key(*key);
  check.detail = "Read from " + name_of(*read) + "." + observed;
  check.fix = "use the proxy key: agproxy key show --reveal" + context.config_flag();
  return check;
}

} // namespace agproxy::diag::doctor
