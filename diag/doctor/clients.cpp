#include "diag/doctor/clients.hpp"

namespace agproxy::diag::doctor {

namespace {

// A User-Agent prefix and the program it names; the version follows the prefix.
struct KnownClient {
  std::string_view prefix;
  std::string_view name;
};

constexpr KnownClient k_known_clients[] = {
    {"claude-cli/", "Claude Code"},
    {"codex_exec/", "Codex CLI"},
    {"codex_cli_rs/", "Codex CLI"},
    {"codex_vscode/", "Codex in VS Code"},
    {"GeminiCLI/", "Gemini CLI"},
    {"OpenAI/JS ", "OpenAI JS SDK"},
    {"OpenAI/Python ", "OpenAI Python SDK"},
    {"Anthropic/JS ", "Anthropic JS SDK"},
    {"Anthropic/Python ", "Anthropic Python SDK"},
    {"google-genai-sdk/", "Google Gen AI SDK"},
    {"curl/", "curl"},
    {"python-requests/", "Python requests"},
    {"python-httpx/", "Python httpx"},
};

constexpr size_t k_shown_length = 48;

bool is_version_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
         c == '-' || c == '+' || c == '_';
}

} // namespace

std::string printable(std::string_view text, size_t limit) {
  if (text.size() > limit) {
    // Cut before a UTF-8 continuation byte, never inside a character.
    size_t cut = limit;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) {
      --cut;
    }
    return printable(text.substr(0, cut), limit) + "…";
  }
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    out += byte < 0x20 || byte == 0x7f ? '?' : c;
  }
  return out;
}

std::optional<std::string_view> setup_agent(std::string_view name) {
  if (name.starts_with("Claude Code")) {
    return "claude-code";
  }
  if (name.starts_with("Codex CLI")) {
    return "codex";
  }
  if (name.starts_with("Gemini CLI")) {
    return "gemini-cli";
  }
  return std::nullopt;
}

std::string client_name(std::optional<std::string_view> user_agent) {
  if (!user_agent || user_agent->empty()) {
    return "a client without a User-Agent";
  }
  for (const KnownClient& known : k_known_clients) {
    if (!user_agent->starts_with(known.prefix)) {
      continue;
    }
    const std::string_view rest = user_agent->substr(known.prefix.size());
    size_t end = 0;
    while (end < rest.size() && end < 32 && is_version_char(rest[end])) {
      ++end;
    }
    return end == 0 ? std::string(known.name)
                    : std::string(known.name) + " " + std::string(rest.substr(0, end));
  }
  return printable(*user_agent, k_shown_length);
}

} // namespace agproxy::diag::doctor
