#pragma once

#include "server/config/config.hpp"

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agproxy::cli {

// Exit codes shared by every command (DESIGN §5).
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_failure = 1;
inline constexpr int k_exit_usage = 2;

// Options most commands take.
struct CommonOptions {
  std::optional<std::string> config_path;
  bool json = false;
};

// Add --config to `command`, storing into `options`.
void add_config_option(CLI::App& command, CommonOptions& options);

// Add --json to `command`, storing into `options`.
void add_json_option(CLI::App& command, CommonOptions& options, const std::string& what);

// Print `message` to stderr as "agproxy: error: <message>".
void print_error(std::string_view message);

// Print `message` to stderr as "agproxy: note: <message>".
void print_note(std::string_view message);

// Return the closest of `candidates` to `word` when it is a likely typo, or nothing.
std::optional<std::string> suggest(std::string_view word,
                                   const std::vector<std::string>& candidates);

} // namespace agproxy::cli
