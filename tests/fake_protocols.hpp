#pragma once

// The fake provider's "scripted" models: each provider's wire protocol written from the public API
// references alone, independently of agproxy's own translators, so that tests can hold those
// translators against a second, separate reading of every protocol.

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy::test {

// What one fake provider handed out that a client must hand back (thinking signatures, Gemini
// thought signatures, Responses encrypted reasoning), so that it can refuse a history that lost
// them as the real provider would.
class ScriptLedger {
public:
  // Return the next serial number, which makes every issued id and signature unique.
  int next();
  // Record that `secret` was issued together with the tool call `call_id`.
  void remember(const std::string& call_id, const std::string& secret);
  // Return whether this fake issued `secret`.
  bool issued(const std::string& secret) const;
  // Return the secret issued together with the tool call `call_id`, if this fake issued one.
  std::optional<std::string> secret_for(const std::string& call_id) const;

private:
  mutable std::mutex m_mutex;
  int m_counter = 0;
  std::map<std::string, std::string> m_by_call;
  std::set<std::string> m_secrets;
};

// A scripted answer: the status and content type, and the body in the pieces it goes out in (one
// SSE event each when `stream`, a single piece otherwise).
struct ScriptedReply {
  int status = 200;
  std::string content_type = "application/json";
  bool stream = false;
  std::vector<std::string> chunks;
};

// Return whether `model` selects the scripted answers.
bool is_scripted_model(std::string_view model);

// Return the scripted answer to a POST of `body` to `path`; `query` is the raw query string (Gemini
// streams as SSE only with alt=sse). The protocol follows from the path.
ScriptedReply scripted_reply(ScriptLedger& ledger, std::string_view path, std::string_view query,
                             std::string_view body);

} // namespace agproxy::test
