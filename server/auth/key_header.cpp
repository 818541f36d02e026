#include "server/auth/key_header.hpp"

#include "server/auth/secret.hpp"
#include "server/text.hpp"

#include <algorithm>

namespace agproxy {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

} // namespace

std::string_view key_in_header(KeyHeader header, std::string_view value) {
  return header == KeyHeader::authorization ? parse_authorization(value).key : value;
}

std::vector<HeaderFinding> analyze_key_header(KeyHeader header, std::string_view value) {
  std::vector<HeaderFinding> findings;
  const std::string name(header_name(header));
  auto add = [&](Severity severity, std::string problem, std::string fix) {
    findings.push_back({header, severity, std::move(problem), std::move(fix)});
  };
  const std::string correct = header == KeyHeader::authorization
                                  ? "'Authorization: Bearer <key>'"
                                  : "'" + name + ": <key>' (the bare key)";
  if (value.empty()) {
    add(Severity::fail, name + " is empty", "send " + correct);
    return findings;
  }
  if (value.find_first_of("\r\n") != std::string_view::npos) {
    add(Severity::fail,
        name + " contains a line break (CR/LF), typically a key read from a file or a command "
               "with its trailing newline",
        "strip the newline: KEY=\"$(tr -d '\\r\\n' < keyfile)\"");
  }
  if (value.find("…") != std::string_view::npos) {
    add(Severity::fail, name + " contains '…': this is a masked key copied from a display",
        "use the whole key: agproxy key show --reveal");
  } else if (std::any_of(value.begin(), value.end(),
                         [](char c) { return static_cast<unsigned char>(c) >= 0x80; })) {
    add(Severity::fail,
        name + " contains non-ASCII characters (smart quotes or a dash pasted from a document?)",
        "retype the header with plain ASCII, or paste the key from agproxy key show --reveal");
  }
  if (is_space(value.front()) || is_space(value.back())) {
    add(Severity::fail, name + " has leading or trailing whitespace around the key",
        "remove the spaces: send " + correct);
  }
  std::string_view key = value;
  if (header == KeyHeader::authorization) {
    const AuthorizationKey parsed = parse_authorization(value);
    const bool starts_bearer = value.size() >= 6 && iequals(value.substr(0, 6), "Bearer");
    if (parsed.malformed && value.size() > 6 && value[6] != ' ') {
      add(Severity::fail, "'Bearer' is glued to the key (no space after it)",
          "put one space after Bearer: 'Authorization: Bearer <key>'");
    } else if (parsed.malformed) {
      add(Severity::fail, "'Bearer' has no key after it", "send 'Authorization: Bearer <key>'");
    } else if (parsed.bearer) {
      key = parsed.key;
      if (value.substr(0, 6) != "Bearer") {
        add(Severity::warn,
            "the scheme is spelled '" + std::string(value.substr(0, 6)) +
                "': agproxy accepts any case (RFC 7235), Antigravity Tools only 'Bearer'",
            "write 'Bearer' exactly");
      }
      if (value.size() > 7 && value[7] == ' ') {
        add(Severity::warn,
            "several spaces after 'Bearer': agproxy accepts them, Antigravity Tools does not",
            "use exactly one space: 'Authorization: Bearer <key>'");
      }
      if (key.size() >= 7 && iequals(key.substr(0, 6), "Bearer") && key[6] == ' ') {
        add(Severity::fail, "the scheme is doubled ('Bearer Bearer <key>')",
            "the SDK adds 'Bearer ' itself: give it the bare key");
      }
    } else if (!starts_bearer) {
      const size_t space = value.find(' ');
      if (space != std::string_view::npos && space > 0 && space < 10) {
        add(Severity::fail,
            "the scheme is '" + std::string(value.substr(0, space)) +
                "', not Bearer: the whole value is compared as the key",
            "send 'Authorization: Bearer <key>'");
      }
    }
  } else if (value.size() > 7 && iequals(value.substr(0, 7), "Bearer ")) {
    add(Severity::fail, name + " carries 'Bearer <key>'; this header takes the bare key",
        "send '" + name + ": <key>'");
    key = value.substr(7);
  }
  if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'') && key.back() == key.front()) {
    add(Severity::fail, "the key is wrapped in quotes, which are sent as part of it",
        "remove the quotes around the key");
  }
  return findings;
}

std::optional<std::string> provider_of_key(std::string_view key) {
  struct Pattern {
    std::string_view prefix;
    const char* provider;
  };
  static constexpr Pattern k_patterns[] = {{"sk-ant-", "an Anthropic API key"},
                                           {"sk-proj-", "an OpenAI project key"},
                                           {"sk-svcacct-", "an OpenAI service-account key"},
                                           {"sk-admin-", "an OpenAI admin key"},
                                           {"AIza", "a Google (Gemini) API key"},
                                           {"sk-or-", "an OpenRouter key"},
                                           {"gsk_", "a Groq key"},
                                           {"xai-", "an xAI key"}};
  for (const Pattern& pattern : k_patterns) {
    if (key.starts_with(pattern.prefix)) {
      return pattern.provider;
    }
  }
  // Legacy OpenAI keys: "sk-" and 48 letters and digits; agproxy's are "sk-" and 32 hex digits.
  if (key.starts_with("sk-") && key.size() >= 48) {
    return "an OpenAI API key";
  }
  return std::nullopt;
}

std::string describe_key(std::string_view key) {
  const std::string visible = key.size() >= 8 ? "…" + std::string(key.substr(key.size() - 4))
                                              : "(" + std::to_string(key.size()) + " chars)";
  return visible + " sha256:" + fingerprint(key);
}

} // namespace agproxy
