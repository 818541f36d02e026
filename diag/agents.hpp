#pragma once

#include "server/config/config.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

// The coding agents' own settings (DESIGN §9): what `agproxy client setup` writes into them, and
// how each agent will read them. `agproxy client show` and the doctor's env.agents check both use
// read_wiring, so they never disagree about what an agent sends.
namespace agproxy::agents {

// A coding agent agproxy knows how to wire.
enum class Agent { claude_code, codex, gemini_cli };

// Return every agent, in the order commands list them.
const std::vector<Agent>& all_agents();

// Return the agent's command-line name: "claude-code", "codex" or "gemini-cli".
std::string_view to_string(Agent agent);

// Return the agent named `name`, or nothing when there is no such agent.
std::optional<Agent> parse_agent(std::string_view name);

// Where the agent should send its requests, and with which key.
struct ProxyTarget {
  // The proxy's root URL as a local client reaches it, e.g. "http://127.0.0.1:8045".
  std::string url;
  std::string key;
  // The model the agent should ask for, and its small fast one (Claude Code's background calls);
  // empty: the agent's own choice is left as it is.
  std::string model;
  std::string fast_model;
};

// One file `setup` would change: its text before (nothing when it does not exist) and after.
struct FileChange {
  std::string path;
  std::optional<std::string> before;
  std::string after;
  // Settings removed because they would make the agent send a second, conflicting key or go
  // elsewhere, each as "NAME (why)".
  std::vector<std::string> removed;
  // Secret values found in `before` (keys replaced or removed), masked when the diff is shown.
  std::vector<std::string> secrets;

  // Return whether writing `after` changes the file.
  bool changes() const { return !before || *before != after; }
};

// Return the changes that wire `agent` to `target` under the home directory `home`. Throws Error
// naming the file when an existing file cannot be read or parsed, or cannot be edited safely.
std::vector<FileChange> plan_setup(Agent agent, const std::string& home, const ProxyTarget& target);

// Return the backup file agproxy keeps of `path`: its contents before agproxy's first change.
std::string backup_path(const std::string& path);

// Return the marker file that says agproxy created `path` (there was nothing to back up).
std::string created_marker_path(const std::string& path);

// Back up each changed file once (its original, or a marker when there was none), then write it
// atomically with mode 0600. Throws std::system_error naming the path on failure.
void apply_setup(const std::vector<FileChange>& changes);

// Return the changes that undo agproxy's setup of `agent`: each file back to its backup, or
// removed (after empty) when agproxy created it. `after_removed` tells the two apart.
struct UndoStep {
  FileChange change;
  bool remove = false;
};

// Return the undo steps for `agent` under `home` (empty when there is no backup).
std::vector<UndoStep> plan_undo(Agent agent, const std::string& home);

// Carry out `steps` and delete the backups they used.
void apply_undo(const std::vector<UndoStep>& steps);

// Return a unified diff of `change` (3 lines of context) with `mask` and the change's own secrets
// replaced by their masked form. Empty when the file does not change.
std::string render_diff(const FileChange& change, const std::vector<std::string>& mask);

// One value an agent will use and where it comes from ("~/.claude/settings.json env",
// "environment", "default").
struct Sourced {
  std::string value;
  std::string source;
};

// A setting that makes the agent fail against the proxy, with the fix.
struct Trap {
  std::string id;
  std::string message;
  std::string fix;
};

// What an agent will send, read from its files and the environment as the agent reads them.
struct Wiring {
  Agent agent;
  // The files read, and whether each exists.
  std::vector<std::pair<std::string, bool>> files;
  std::optional<Sourced> base_url;
  // The headers the key goes out in ("x-api-key", "Authorization: Bearer", "x-goog-api-key").
  std::vector<std::string> headers;
  // The key the proxy reads (the first header in its order: Authorization, x-api-key,
  // x-goog-api-key), or nothing when the agent sends none.
  std::optional<Sourced> key;
  std::vector<Trap> traps;
  // Facts worth knowing that are not failures (e.g. Gemini CLI's folder trust).
  std::vector<std::string> notes;
};

// Return how `agent` is wired under `home`, given the agent's environment `env`. Files that do not
// parse become traps, not exceptions.
Wiring read_wiring(Agent agent, const std::string& home, const Environment& env);

} // namespace agproxy::agents
