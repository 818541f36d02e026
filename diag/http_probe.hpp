#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agproxy::diag {

// The product token of the User-Agent every probe sends ("agproxy-doctor/VERSION"): the doctor
// leaves the requests it finds in the server's record with it out of its diagnosis.
inline constexpr std::string_view k_probe_user_agent_product = "agproxy-doctor/";

// One request the doctor sends.
struct ProbeRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  double timeout_seconds = 2;
};

// Why a probe got no HTTP answer.
enum class TransportError { none, refused, timeout, no_answer, not_http, unresolved, other };

// What came back.
struct ProbeResponse {
  TransportError error = TransportError::none;
  // What went wrong, in words, when error != none.
  std::string error_text;
  int status = 0;
  // Header names in lowercase.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Return the first value of header `name` (lowercase), if present.
  std::optional<std::string> header(const std::string& name) const;
};

// Sends the doctor's probes. An interface at the network edge, so that check logic can be tested
// with a fake.
class HttpProber {
public:
  virtual ~HttpProber() = default;
  // Send `request` and return the answer or the transport error. Never throws.
  virtual ProbeResponse send(const ProbeRequest& request) = 0;
};

// The real prober: libcurl, straight to the target (never through HTTP(S)_PROXY).
class CurlProber : public HttpProber {
public:
  ProbeResponse send(const ProbeRequest& request) override;
};

} // namespace agproxy::diag
