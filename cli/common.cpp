#include "cli/common.hpp"

#include <algorithm>
#include <iostream>

namespace agproxy::cli {

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

} // namespace

void add_config_option(CLI::App& command, CommonOptions& options) {
  command
      .add_option("--config", options.config_path,
                  "Config file (default: $AGPROXY_CONFIG, else "
                  "$XDG_CONFIG_HOME/agproxy/config.json, else ~/.config/agproxy/config.json)")
      ->type_name("PATH");
}

void add_json_option(CLI::App& command, CommonOptions& options, const std::string& what) {
  command.add_flag("--json", options.json, "Print " + what + " as one JSON object on stdout");
}

void print_error(std::string_view message) {
  std::cerr << "agproxy: error: " << message << std::endl;
}

void print_note(std::string_view message) {
  std::cerr << "agproxy: note: " << message << std::endl;
}

std::optional<std::string> suggest(std::string_view word,
                                   const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& candidate : candidates) {
    size_t distance = edit_distance(word, candidate);
    if (word.size() >= 2 && candidate.starts_with(word)) {
      distance = 1; // a prefix is as likely as one typo
    }
    if (!best || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  const size_t limit = word.size() <= 3 ? 1 : 2;
  if (best && best_distance <= limit) {
    return best;
  }
  return std::nullopt;
}

} // namespace agproxy::cli
