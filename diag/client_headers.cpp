#include "diag/client_headers.hpp"

#include "server/auth/secret.hpp"
#include "server/text.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace agproxy::diag {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

// curl options that take a value, whose value must be skipped when looking for the URL.
const std::set<std::string_view> k_curl_options_with_value = {"-H",
                                                              "--header",
                                                              "-X",
                                                              "--request",
                                                              "-d",
                                                              "--data",
                                                              "--data-raw",
                                                              "--data-binary",
                                                              "--data-urlencode",
                                                              "--json",
                                                              "-u",
                                                              "--user",
                                                              "-A",
                                                              "--user-agent",
                                                              "-e",
                                                              "--referer",
                                                              "-o",
                                                              "--output",
                                                              "--url",
                                                              "-b",
                                                              "--cookie",
                                                              "-c",
                                                              "--cookie-jar",
                                                              "--connect-timeout",
                                                              "-m",
                                                              "--max-time",
                                                              "-x",
                                                              "--proxy",
                                                              "-w",
                                                              "--write-out",
                                                              "-F",
                                                              "--form",
                                                              "--cacert",
                                                              "--cert",
                                                              "--key",
                                                              "-T",
                                                              "--upload-file",
                                                              "--oauth2-bearer",
                                                              "-r",
                                                              "--range",
                                                              "--retry",
                                                              "-K",
                                                              "--config",
                                                              "--resolve",
                                                              "--connect-to",
                                                              "--interface",
                                                              "-U",
                                                              "--proxy-user",
                                                              "--noproxy"};

} // namespace

bool is_header(std::string_view name, KeyHeader header) {
  return iequals(name, header_name(header));
}

std::optional<ClientHeader> parse_header_argument(std::string_view argument, std::string& error) {
  const size_t colon = argument.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    error = "-H expects 'Name: value', got '" + std::string(argument.substr(0, 40)) + "'";
    return std::nullopt;
  }
  std::string_view name = argument.substr(0, colon);
  while (!name.empty() && is_space(name.back())) {
    name.remove_suffix(1);
  }
  std::string_view value = argument.substr(colon + 1);
  // HTTP puts optional whitespace after the colon; curl sends one space. What follows it is the
  // value as the client sends it, trailing whitespace included.
  if (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  return ClientHeader{std::string(name), std::string(value)};
}

std::optional<std::vector<std::string>> split_shell_words(std::string_view command,
                                                          std::string& error) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (c == '\\') {
      if (i + 1 < command.size() && (command[i + 1] == '\n' || command[i + 1] == '\r')) {
        i += (command[i + 1] == '\r' && i + 2 < command.size() && command[i + 2] == '\n') ? 2 : 1;
        continue; // line continuation
      }
      if (i + 1 < command.size()) {
        word += command[++i];
        in_word = true;
      }
      continue;
    }
    if (c == '\'') {
      const size_t end = command.find('\'', i + 1);
      if (end == std::string_view::npos) {
        error = "the curl command has an unterminated single quote";
        return std::nullopt;
      }
      word.append(command.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
      continue;
    }
    if (c == '"') {
      size_t j = i + 1;
      for (; j < command.size() && command[j] != '"'; ++j) {
        if (command[j] == '\\' && j + 1 < command.size() &&
            std::string_view("\"\\$`\n").find(command[j + 1]) != std::string_view::npos) {
          if (command[j + 1] != '\n') {
            word += command[j + 1];
          }
          ++j;
        } else {
          word += command[j];
        }
      }
      if (j >= command.size()) {
        error = "the curl command has an unterminated double quote";
        return std::nullopt;
      }
      in_word = true;
      i = j;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
      continue;
    }
    word += c;
    in_word = true;
  }
  if (in_word) {
    words.push_back(std::move(word));
  }
  return words;
}

std::optional<ClientRequest> parse_curl_command(std::string_view command, std::string& error) {
  auto words = split_shell_words(command, error);
  if (!words) {
    return std::nullopt;
  }
  size_t i = 0;
  if (i < words->size() && ((*words)[i] == "curl" || (*words)[i].ends_with("/curl"))) {
    ++i;
  }
  ClientRequest request;
  for (; i < words->size(); ++i) {
    std::string word = (*words)[i];
    std::string value;
    bool has_value = false;
    if (word.starts_with("--") && word.find('=') != std::string::npos) {
      value = word.substr(word.find('=') + 1);
      word = word.substr(0, word.find('='));
      has_value = true;
    } else if (word.size() > 2 && word[0] == '-' && word[1] != '-' &&
               k_curl_options_with_value.contains(word.substr(0, 2))) {
      value = word.substr(2); // -HValue, -XPOST
      word = word.substr(0, 2);
      has_value = true;
    }
    if (!word.starts_with("-")) {
      if (!request.url) {
        request.url = word;
      }
      continue;
    }
    if (!k_curl_options_with_value.contains(word)) {
      continue; // a flag such as -i, -s, -N, --compressed
    }
    if (!has_value) {
      if (i + 1 >= words->size()) {
        error = "the curl command ends with " + word + " and no value";
        return std::nullopt;
      }
      value = (*words)[++i];
    }
    if (word == "-H" || word == "--header") {
      auto header = parse_header_argument(value, error);
      if (!header) {
        return std::nullopt;
      }
      request.headers.push_back(std::move(*header));
    } else if (word == "-X" || word == "--request") {
      request.method = value;
    } else if (word == "--url") {
      request.url = value;
    } else if (word == "--oauth2-bearer") {
      request.headers.push_back({"Authorization", "Bearer " + value});
    } else if (word == "-u" || word == "--user") {
      request.headers.push_back({"Authorization", "Basic (from curl -u)"});
    }
  }
  if (!request.url) {
    error = "the curl command has no URL";
    return std::nullopt;
  }
  return request;
}

AuthRequest to_auth_request(const ClientRequest& request, std::string_view method,
                            std::string_view path) {
  AuthRequest auth{method, path, std::nullopt, std::nullopt, std::nullopt};
  for (const ClientHeader& header : request.headers) {
    for (KeyHeader which : k_key_headers) {
      if (!is_header(header.name, which)) {
        continue;
      }
      std::optional<std::string_view>& slot = which == KeyHeader::authorization ? auth.authorization
                                              : which == KeyHeader::x_api_key   ? auth.x_api_key
                                                                              : auth.x_goog_api_key;
      if (!slot) {
        slot = header.value;
      }
    }
  }
  return auth;
}

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

} // namespace agproxy::diag
