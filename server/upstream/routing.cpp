#include "server/upstream/routing.hpp"

#include "server/text.hpp"
#include "server/upstream/json_scan.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>

namespace agproxy {

namespace {

bool in(std::string_view name, std::initializer_list<std::string_view> names) {
  return std::any_of(names.begin(), names.end(),
                     [&](std::string_view n) { return iequals(name, n); });
}

// The Gemini model segment of `path`: its start and length, or npos.
std::pair<size_t, size_t> gemini_model_span(std::string_view path) {
  constexpr std::string_view marker = "/models/";
  const size_t at = path.find(marker);
  if (at == std::string_view::npos) {
    return {std::string_view::npos, 0};
  }
  const size_t start = at + marker.size();
  const size_t colon = path.find(':', start);
  const size_t end = colon == std::string_view::npos ? path.find('/', start) : colon;
  return {start, (end == std::string_view::npos ? path.size() : end) - start};
}

// Return the name of a query parameter as a server decodes it (%XX escapes and '+').
std::string decode_query_name(std::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '%' && i + 2 < name.size() &&
        std::isxdigit(static_cast<unsigned char>(name[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(name.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += name[i] == '+' ? ' ' : name[i];
    }
  }
  return out;
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == text[t] || (pattern[p] == '?' && text[t] != '/'))) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (star != std::string_view::npos && text[mark] != '/') {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') {
    ++p;
  }
  return p == pattern.size();
}

ModelRead read_model(Protocol protocol, std::string_view path, std::string_view body,
                     std::string_view content_type) {
  if (protocol == Protocol::gemini) {
    const auto [start, length] = gemini_model_span(path);
    if (start == std::string_view::npos) {
      return {};
    }
    const std::string_view model = path.substr(start, length);
    const bool name = !model.empty() && std::all_of(model.begin(), model.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
    return name ? ModelRead{std::string(model), false} : ModelRead{std::nullopt, true};
  }
  if (body.empty() || content_type.starts_with("multipart/")) {
    return {};
  }
  // Lexed, not parsed: a long chat's strings are not copied, and only "model" is decoded. The
  // scan accepts exactly what nlohmann's parser does (tests/fuzz/fuzz_model_scan.cpp compares
  // them).
  JsonScan scan = scan_json_member(body, "model");
  if (!scan.valid) {
    return {std::nullopt, true};
  }
  return {std::move(scan.member), false};
}

std::optional<std::string> requested_model(Protocol protocol, std::string_view path,
                                           std::string_view body) {
  ModelRead read = read_model(protocol, path, body);
  return read.malformed ? std::nullopt : std::move(read.model);
}

std::optional<std::string> map_model(const Upstream& upstream, std::string_view model) {
  const std::pair<std::string, std::string>* best = nullptr;
  size_t best_literals = 0;
  for (const auto& entry : upstream.model_map) {
    const std::string& alias = entry.first;
    if (alias == model) {
      return entry.second;
    }
    if (alias.find_first_of("*?") == std::string::npos || !glob_match(alias, model)) {
      continue;
    }
    const size_t literals = static_cast<size_t>(
        std::count_if(alias.begin(), alias.end(), [](char c) { return c != '*' && c != '?'; }));
    if (!best || literals > best_literals) {
      best = &entry;
      best_literals = literals;
    }
  }
  return best ? std::optional<std::string>(best->second) : std::nullopt;
}

std::optional<Route> choose_upstream(const std::vector<Upstream>& upstreams, Protocol protocol,
                                     const std::optional<std::string>& model, bool translatable) {
  for (size_t i = 0; i < upstreams.size(); ++i) {
    const Upstream& upstream = upstreams[i];
    const bool own_family = same_family(upstream.protocol, protocol);
    if (!own_family && !translatable) {
      continue;
    }
    if (!model) {
      if (own_family && upstream.models.empty()) {
        return Route{i, std::nullopt};
      }
      continue;
    }
    if (std::optional<std::string> real = map_model(upstream, *model)) {
      return Route{i, std::move(real)};
    }
    if ((own_family && upstream.models.empty()) ||
        std::any_of(upstream.models.begin(), upstream.models.end(),
                    [&](const std::string& pattern) { return glob_match(pattern, *model); })) {
      return Route{i, model};
    }
  }
  return std::nullopt;
}

std::string replace_path_model(std::string_view path, std::string_view model) {
  const auto [start, length] = gemini_model_span(path);
  if (start == std::string_view::npos) {
    return std::string(path);
  }
  return std::string(path.substr(0, start)) + std::string(model) +
         std::string(path.substr(start + length));
}

bool replace_body_model(std::string& body, std::string_view model) {
  // Spliced, not re-serialized: the rest of the body stays as the client wrote it (a document
  // would cost several copies of a large body, reorder its keys and reformat its numbers).
  const std::optional<JsonMemberSpans> found = find_json_member(body, "model");
  if (!found) {
    return false;
  }
  const std::string value =
      nlohmann::json(model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (found->values.empty()) {
    const size_t open = *found->object + 1;
    const bool empty = body[body.find_first_not_of(" \t\r\n", open)] == '}';
    body.insert(open, "\"model\":" + value + (empty ? "" : ","));
    return true;
  }
  // Every value of a duplicated key, so that no provider reads another; from the last, so that
  // the offsets still hold.
  for (auto span = found->values.rbegin(); span != found->values.rend(); ++span) {
    body.replace(span->first, span->second, value);
  }
  return true;
}

std::string strip_key_parameter(std::string_view query) {
  std::string out;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    const std::string_view part = query.substr(start, end - start);
    if (!part.empty() && !iequals(decode_query_name(part.substr(0, part.find('='))), "key")) {
      out += (out.empty() ? "" : "&") + std::string(part);
    }
    start = end + 1;
  }
  return out;
}

bool forwarded_request_header(std::string_view name) {
  const auto starts_with = [&](std::string_view prefix) {
    return name.size() >= prefix.size() && iequals(name.substr(0, prefix.size()), prefix);
  };
  if (starts_with("x-agproxy-") || starts_with("x-forwarded-")) {
    return false;
  }
  return !in(name, {"Authorization",
                    "x-api-key",
                    "x-goog-api-key",
                    "api-key",
                    "Cookie",
                    "Forwarded",
                    "X-Real-IP",
                    "Origin",
                    "Host",
                    "Connection",
                    "Keep-Alive",
                    "Proxy-Authorization",
                    "Proxy-Authenticate",
                    "Proxy-Connection",
                    "TE",
                    "Trailer",
                    "Transfer-Encoding",
                    "Upgrade",
                    "Content-Length",
                    "Expect",
                    "Accept-Encoding",
                    "REMOTE_ADDR",
                    "REMOTE_PORT",
                    "LOCAL_ADDR",
                    "LOCAL_PORT"});
}

bool forwarded_response_header(std::string_view name) {
  // x-agproxy-* are the proxy's to set; a provider (or another proxy in front of one) does not.
  if (name.size() >= 10 && iequals(name.substr(0, 10), "x-agproxy-")) {
    return false;
  }
  // CORS is the proxy's to answer (a provider's "*" would also double the header).
  constexpr std::string_view cors = "access-control-";
  if (name.size() >= cors.size() && iequals(name.substr(0, cors.size()), cors)) {
    return false;
  }
  return !in(name, {"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "TE",
                    "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Content-Type"});
}

std::pair<std::string, std::string> credential_header(Protocol protocol, const std::string& key) {
  switch (protocol) {
  case Protocol::anthropic:
    return {"x-api-key", key};
  case Protocol::gemini:
    return {"x-goog-api-key", key};
  case Protocol::openai:
  case Protocol::openai_responses:
    break;
  }
  return {"Authorization", "Bearer " + key};
}

} // namespace agproxy
