#pragma once

#include "diag/client_headers.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// What the doctor knows of a failing client's request: the facts the header checks judge. Pasted
// headers (-H, --curl) give them with the values themselves; an event the server recorded gives
// the same facts with keys only as fingerprints.
namespace agproxy::diag::doctor {

// A key as the doctor shows and compares it: its last 4 characters and an 8-hex SHA-256 prefix.
struct KeyPrint {
  // Empty for a key shorter than 8 characters.
  std::string last4;
  std::string sha256;
  // As describe_key shows it, e.g. "…cdef sha256:18164f31".
  std::string shown;

  // Return the print of `key`.
  static KeyPrint of(std::string_view key);
  // Return the print the server recorded of a key it never shows.
  static KeyPrint recorded(std::string last4, std::string sha256);
  // Return whether `candidate` has this print.
  bool matches(std::string_view candidate) const;
  // Return whether two prints are of the same key.
  bool operator==(const KeyPrint& other) const {
    return last4 == other.last4 && sha256 == other.sha256;
  }
};

// One key header the client sent.
struct KeyHeaderEvidence {
  KeyHeader header = KeyHeader::authorization;
  // The key the proxy compares from this header (after "Bearer " for Authorization), if any.
  std::optional<KeyPrint> key;
  // The provider whose key format that key has, in provider_of_key's words.
  std::optional<std::string> provider;
  // What analyze_key_header finds in the value.
  std::vector<HeaderFinding> findings;
  // Pasted headers only: the value as sent.
  std::optional<std::string> value;

  // Return whether this header carries `candidate` (compared whole when the value is known, else
  // by print).
  bool carries(std::string_view candidate) const;
  // Return whether this header and `other` carry the same key.
  bool same_key_as(const KeyHeaderEvidence& other) const;
};

// The failing client's request, as far as the key check is concerned.
struct ClientEvidence {
  std::string method = "GET";
  std::string path = "/v1/models";
  // The URL of a pasted curl command (the target when there is no --url).
  std::optional<std::string> url;
  // Each key header present (its first occurrence), in the order the proxy reads them: the first
  // is the one read, the others are ignored.
  std::vector<KeyHeaderEvidence> headers;
  // Pasted headers only: every key header line as sent, replayed by headers.key_mismatch.
  std::vector<ClientHeader> replay;
  // Recorded requests only: who sent it ("Claude Code 2.1.332 at 127.0.0.1"), what the server
  // answered ("401 (invalid_api_key)") and whether it found the key read to be its own.
  std::optional<std::string> sender;
  std::optional<std::string> answer;
  std::optional<bool> matches_proxy_key;

  // Return the header the proxy reads the key from, or nothing when no key header is present.
  const KeyHeaderEvidence* read() const { return headers.empty() ? nullptr : &headers.front(); }
};

// A client the server recorded as refused: its refused requests grouped by address, User-Agent
// and key.
struct RecordedClient {
  std::string address;
  std::optional<std::string> user_agent;
  // client_name of the User-Agent.
  std::string name;
  int requests = 0;
  // The times of its first and last refused requests (RFC 3339), and how long ago the last was.
  std::string first;
  std::string last;
  std::optional<long> seconds_ago;
  // Methods and paths ("POST /v1/messages") and deny reasons, each once, most recent first.
  std::vector<std::string> routes;
  std::vector<std::string> reasons;
  // The evidence of its most recent request.
  ClientEvidence evidence;
};

// Return the evidence of a pasted request (-H, --curl) that the client sends as `method` `path`.
ClientEvidence evidence_from_request(const ClientRequest& request, std::string method,
                                     std::string path);

} // namespace agproxy::diag::doctor
