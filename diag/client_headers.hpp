#pragma once

#include "server/auth/auth.hpp"
#include "server/auth/key_header.hpp"

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

} // namespace agproxy::diag
