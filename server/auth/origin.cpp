#include "server/auth/origin.hpp"

#include "server/text.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cstring>

namespace agproxy {

namespace {

// An origin's parts: scheme and host lowercased, the port as written (empty: the default).
struct OriginParts {
  std::string scheme;
  std::string host;
  std::string port;
};

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Split "host[:port]" or "[v6]:port"; nothing when it is neither.
std::optional<std::pair<std::string, std::string>> split_host_port(std::string_view text) {
  std::string_view host = text, port;
  if (text.starts_with('[')) {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) {
      return std::nullopt;
    }
    port = rest.empty() ? rest : rest.substr(1);
  } else if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (port.empty()) {
      return std::nullopt;
    }
  }
  if (host.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string_view::npos ||
      host.find_first_of("/?#@ \t") != std::string_view::npos) {
    return std::nullopt;
  }
  return std::make_pair(lowercase(host), std::string(port));
}

std::optional<OriginParts> parse_origin(std::string_view origin) {
  const size_t separator = origin.find("://");
  if (separator == std::string_view::npos || separator == 0) {
    return std::nullopt;
  }
  auto host_port = split_host_port(origin.substr(separator + 3));
  if (!host_port) {
    return std::nullopt;
  }
  return OriginParts{lowercase(origin.substr(0, separator)), std::move(host_port->first),
                     std::move(host_port->second)};
}

} // namespace

bool is_loopback_name(std::string_view host) {
  const std::string name = lowercase(host);
  if (name == "localhost" || name.ends_with(".localhost")) {
    return true;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, name.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, name.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      return v6.s6_addr[12] == 127;
    }
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

std::optional<std::string> host_of(std::string_view host_header) {
  auto host_port = split_host_port(host_header);
  if (!host_port) {
    return std::nullopt;
  }
  return std::move(host_port->first);
}

bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed_hosts) {
  const std::optional<std::string> host = host_of(host_header);
  if (!host) {
    return false;
  }
  return is_loopback_name(*host) ||
         std::any_of(allowed_hosts.begin(), allowed_hosts.end(),
                     [&](const std::string& allowed) { return iequals(allowed, *host); });
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& cors_origins) {
  const std::optional<OriginParts> parts = parse_origin(origin);
  if (!parts) {
    return false; // "null" (a sandboxed page, a file), or garbage
  }
  if ((parts->scheme == "http" || parts->scheme == "https") && is_loopback_name(parts->host)) {
    return true;
  }
  return std::any_of(cors_origins.begin(), cors_origins.end(), [&](const std::string& entry) {
    const std::optional<OriginParts> listed = parse_origin(entry);
    return listed && listed->scheme == parts->scheme && listed->host == parts->host &&
           listed->port == parts->port;
  });
}

std::optional<std::string> check_origin_entry(std::string_view origin) {
  const std::optional<OriginParts> parts = parse_origin(origin);
  if (!parts || parts->scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789+.-") !=
                    std::string::npos) {
    return "is not an origin; write scheme://host[:port], e.g. \"https://app.example.com\"";
  }
  return std::nullopt;
}

} // namespace agproxy
