#pragma once

#include "server/auth/auth.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy::diag {

// One header as the failing client sends it.
struct ClientHeader {
  std::string name;
  std::string value;
};

// What the doctor knows of the failing client's request.
struct ClientRequest {
  std::optional<std::string> url;
  std::optional<std::string> method;
  std::vector<ClientHeader> headers;
};

// Return whether `name` is the name of `header`, compared case-insensitively as HTTP does.
bool is_header(std::string_view name, KeyHeader header);

// Return the header parsed from a -H argument "Name: value", or an error message. The value keeps
// its spaces, quotes and control characters: they are what the doctor inspects.
std::optional<ClientHeader> parse_header_argument(std::string_view argument, std::string& error);

// Return the words of a shell command line (single and double quotes, backslash escapes,
// backslash-newline continuations), or an error message for an unterminated quote.
std::optional<std::vector<std::string>> split_shell_words(std::string_view command,
                                                          std::string& error);

// Return the URL, method and headers of a pasted curl command, or an error message.
std::optional<ClientRequest> parse_curl_command(std::string_view command, std::string& error);

// Return the request the client's key headers make for the auth decision. The string views point
// into `request`.
AuthRequest to_auth_request(const ClientRequest& request, std::string_view method,
                            std::string_view path);

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

} // namespace agproxy::diag
