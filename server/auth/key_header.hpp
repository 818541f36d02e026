#pragma once

#include "server/auth/auth.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What a key header's value says about the client that sent it: the problems in its form, the
// provider whose key format it has, and the key's fingerprint. The doctor judges pasted headers
// with these, and the server the headers of the requests it denies (DESIGN §7, §8).
namespace agproxy {

// How bad a problem in a header value is.
enum class Severity { warn, fail };

// One problem found in a key header's value.
struct HeaderFinding {
  KeyHeader header;
  Severity severity;
  std::string problem;
  std::string fix;
};

// Return the problems in `value`, sent as `header`: Bearer glued or alone, a doubled scheme,
// quotes, whitespace, CR/LF, non-ASCII, an empty value (fail); a lowercase scheme or several spaces
// after it (warn: agproxy accepts them, Antigravity Tools does not).
std::vector<HeaderFinding> analyze_key_header(KeyHeader header, std::string_view value);

// Return the provider whose key format `key` has ("Anthropic", "OpenAI", "Google"), or nothing.
std::optional<std::string> provider_of_key(std::string_view key);

// Return the key the proxy compares for a header value (the part after "Bearer " for
// Authorization, the whole value otherwise).
std::string_view key_in_header(KeyHeader header, std::string_view value);

// Return `key` for display: the last 4 characters and an 8-hex SHA-256 prefix, never more.
std::string describe_key(std::string_view key);

} // namespace agproxy
