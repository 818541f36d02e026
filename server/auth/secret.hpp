#pragma once

#include <string>
#include <string_view>

namespace agproxy {

// Return a new proxy key: "sk-" and 32 lowercase hex digits from the OpenSSL CSPRNG.
std::string generate_api_key();

// Return `secret` masked for display: at most its last 4 characters, behind "…" (and the public
// "sk-" prefix when it has one). Short secrets show nothing of themselves; empty shows "(empty)".
std::string mask_secret(std::string_view secret);

// Return the first 8 hex digits of the SHA-256 of `secret`: enough to tell two keys apart,
// useless to recover either.
std::string fingerprint(std::string_view secret);

// Return `url` with its secrets masked: the userinfo ("user:password@") and the query string
// become "***". Anything else (scheme, host, port, path) is shown as it is.
std::string mask_url(std::string_view url);

} // namespace agproxy
