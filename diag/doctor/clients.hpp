#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

// Which program a client is, by its User-Agent: the name the doctor calls a recorded client by.
namespace agproxy::diag::doctor {

// Return the name a person knows the client by: "Claude Code 2.1.332" for
// "claude-cli/2.1.332 (external, cli)", "Codex CLI 0.171.0", "Gemini CLI 0.61.0", the OpenAI,
// Anthropic and Google SDKs, curl, Python requests and httpx; any other User-Agent as it is (cut
// at 48 characters, control characters replaced); "a client without a User-Agent" when it sent
// none.
std::string client_name(std::optional<std::string_view> user_agent);

// Return the coding agent `agproxy client setup` wires ("claude-code", "codex", "gemini-cli") that
// `name` (as client_name() says it) is, or nothing.
std::optional<std::string_view> setup_agent(std::string_view name);

// Return `text` fit to print on one line: control characters as '?', cut at `limit` bytes (on a
// character's boundary) with "…" when longer.
std::string printable(std::string_view text, size_t limit);

} // namespace agproxy::diag::doctor
