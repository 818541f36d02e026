#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy {

// Return whether `host` (a name or address, without port or brackets) is this machine's loopback:
// "localhost" or a name under ".localhost" (RFC 6761), an address in 127.0.0.0/8, or ::1 (also as
// an IPv4-mapped address). Names are compared without regard to case.
bool is_loopback_name(std::string_view host);

// Return the host part of a Host header value ("example.com:8045" → "example.com",
// "[::1]:8045" → "::1"), or nothing when it is not host[:port].
std::optional<std::string> host_of(std::string_view host_header);

// Return whether a request whose Host header is `host_header` may be served while auth is off
// (DNS rebinding, DESIGN §11): a loopback name or address, or a name in `allowed_hosts`.
bool host_allowed(std::string_view host_header, const std::vector<std::string>& allowed_hosts);

// Return whether a browser page from `origin` (an Origin header value) may call the proxy: a
// loopback origin (http or https, any port) or one of `cors_origins`, compared as origins
// (scheme and host without regard to case, the port exactly).
bool origin_allowed(std::string_view origin, const std::vector<std::string>& cors_origins);

// Return what is wrong with `origin` as an entry of proxy.cors_origins (it must be
// scheme://host[:port], nothing more), or nothing when it is one.
std::optional<std::string> check_origin_entry(std::string_view origin);

} // namespace agproxy
