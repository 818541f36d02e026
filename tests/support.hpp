#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace agproxy::test {

// A directory under /tmp removed with its contents at the end of the test.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Return the directory's path.
  const std::string& path() const { return m_path; }
  // Return `name` inside the directory.
  std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
  std::string m_path;
};

// The proxy key the integration tests configure, and another well-formed key that is not it.
inline constexpr const char* k_key = "sk-0123456789abcdef0123456789abcdef";
inline constexpr const char* k_other = "sk-fedcba9876543210fedcba9876543210";

// Provider keys that tests configure as canaries, one per fake-provider behaviour (answered
// normally, rate-limited, refused, failing).
inline constexpr const char* k_provider_canary = "ok-canary-provider-5d1e0c3b9a7f";
inline constexpr const char* k_limited_canary = "rl-canary-provider-8e2f4a6c1b3d";
inline constexpr const char* k_refused_canary = "bad-canary-provider-3c5e7a9b0d2f";
inline constexpr const char* k_failing_canary = "down-canary-provider-6b8d0f2a4c1e";

// Return the secrets among the canaries (k_key and the provider canaries) that `text` contains.
// No log line, error message, doctor output or response may hold one: ServeProcess checks its
// log when it ends, run_agproxy each command's output (but `key show --reveal`'s, whose job it
// is), and the secrets tests every response.
std::vector<std::string> canaries_in(const std::string& text);

// Return whether `text` contains `part`.
inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Return a config file's text with these proxy settings (port 8045).
std::string config_json(const std::string& mode, bool lan, const std::string& key);

// Write `content` to `path`, replacing it.
void write_text(const std::string& path, const std::string& content);

// Return the contents of `path` ("" when missing).
std::string read_text(const std::string& path);

// Return a socket connected to 127.0.0.1:`port` from source address `from` (blocking), or -1.
int connect_from(int port, const char* from = "127.0.0.1");

// One HTTP exchange over a raw socket to 127.0.0.1:`port`, from source address `from`: `request`
// is sent as is; returns what came back until the server closed the connection or `timeout` passed.
std::string raw_exchange(int port, const std::string& request,
                         std::chrono::milliseconds timeout = std::chrono::seconds(3),
                         const char* from = "127.0.0.1");

// Environment for a child: a minimal base (PATH, HOME) plus these variables, nothing inherited.
using Env = std::map<std::string, std::string>;

// The outcome of running a command to completion.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Run the agproxy binary with `args` and `env`, feeding `input` on stdin; kill it after `timeout`.
RunResult run_agproxy(const std::vector<std::string>& args, const Env& env,
                      const std::string& input = "",
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A running `agproxy serve` whose stderr is collected in the background.
class ServeProcess {
public:
  // Start `agproxy serve --port 0 <args>` with `env` and wait until it prints its listen URL.
  // Throws std::runtime_error (with the log so far) when it exits or does not listen in time.
  ServeProcess(const std::vector<std::string>& args, const Env& env);
  ~ServeProcess();
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  // Return the port it listens on.
  int port() const { return m_port; }
  // Return its process id.
  int pid() const { return m_pid; }
  // Return its stderr so far.
  std::string log() const;
  // Wait until stderr contains `text`; return whether it did within `timeout`.
  bool wait_for_log(const std::string& text,
                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Send `signal` to the process.
  void send_signal(int signal) const;
  // Wait for the process to exit; return its exit code, or nothing on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout = std::chrono::seconds(10));

private:
  void read_stderr(int fd);

  int m_pid = -1;
  int m_port = 0;
  std::optional<int> m_exit;
  mutable std::mutex m_mutex;
  mutable std::condition_variable m_changed;
  std::string m_log;
  bool m_eof = false;
  std::thread m_reader;
};

} // namespace agproxy::test
