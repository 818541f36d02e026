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

} // namespace agproxy::diag
