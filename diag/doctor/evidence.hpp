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
  std::string last4;
  std::string sha256;
  // As describe_key shows it, e.g. "…cdef sha256:18164f31".
  std::string shown;

  // Return the print of `key`.
  static KeyPrint of(std::string_view key);
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

  // Return the header the proxy reads the key from, or nothing when no key header is present.
  const KeyHeaderEvidence* read() const { return headers.empty() ? nullptr : &headers.front(); }
};

// Return the evidence of a pasted request (-H, --curl) that the client sends as `method` `path`.
ClientEvidence evidence_from_request(const ClientRequest& request, std::string method,
                                     std::string path);

} // namespace agproxy::diag::doctor
