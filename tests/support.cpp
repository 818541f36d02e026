#include "tests/support.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdlib>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <regex>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace agproxy::test {

namespace {

std::vector<std::string> child_environment(const Env& env) {
  Env merged = {{"PATH", "/usr/local/bin:/usr/bin:/bin"}, {"HOME", "/nonexistent-agproxy-home"}};
  for (const auto& [name, value] : env) {
    merged[name] = value;
  }
  std::vector<std::string> out;
  for (const auto& [name, value] : merged) {
    out.push_back(name + "=" + value);
  }
  return out;
}

// Start the agproxy binary; returns the pid and the parent's ends of stdin, stdout, stderr.
int spawn(const std::vector<std::string>& args, const Env& env, int& in, int& out, int& err) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0 ||
      pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<std::string> argv_storage = {AGPROXY_BINARY};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_storage) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = child_environment(env);
  std::vector<char*> envp;
  for (auto& entry : env_storage) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    // Undo anything the test runner blocked, so the child's signal handling is its own.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  in = in_pipe[1];
  out = out_pipe[0];
  err = err_pipe[0];
  return pid;
}

int decode_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  return 128 + WTERMSIG(status);
}

} // namespace

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "agproxy-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) {
    throw std::runtime_error("mkdtemp failed");
  }
  m_path = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::permissions(m_path, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::add, ec);
  std::filesystem::remove_all(m_path, ec);
}

std::string config_json(const std::string& mode, bool lan, const std::string& key) {
  return nlohmann::json{
      {"proxy", {{"auth_mode", mode}, {"allow_lan_access", lan}, {"api_key", key}, {"port", 8045}}}}
      .dump(2);
}

void write_text(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

int connect_from(int port, const char* from) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in source{};
  source.sin_family = AF_INET;
  inet_pton(AF_INET, from, &source.sin_addr);
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_port = htons(static_cast<uint16_t>(port));
  target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&source), sizeof source) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof target) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string raw_exchange(int port, const std::string& request, std::chrono::milliseconds timeout,
                         const char* from) {
  const int fd = connect_from(port, from);
  if (fd < 0) {
    return "";
  }
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) {
      continue;
    }
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) {
      break;
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

RunResult run_agproxy(const std::vector<std::string>& args, const Env& env,
                      const std::string& input, std::chrono::milliseconds timeout) {
  int in = -1, out = -1, err = -1;
  const int pid = spawn(args, env, in, out, err);
  if (!input.empty()) {
    (void)!write(in, input.data(), input.size());
  }
  close(in);

  RunResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out, POLLIN, 0}, {err, POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0 && std::chrono::steady_clock::now() < deadline) {
    if (poll(fds, 2, 100) <= 0) {
      continue;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) {
        continue;
      }
      char buffer[4096];
      const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) {
      close(fd.fd);
    }
  }
  int status = 0;
  if (open_fds > 0) {
    kill(pid, SIGKILL);
  }
  waitpid(pid, &status, 0);
  result.exit_code = decode_status(status);
  if (std::find(args.begin(), args.end(), "--reveal") == args.end()) {
    const std::vector<std::string> leaked = canaries_in(result.out + result.err);
    CHECK_MESSAGE(leaked.empty(),
                  "a secret in the output of agproxy "
                      << args[0] << ": …"
                      << (leaked.empty() ? "" : leaked[0].substr(leaked[0].size() - 4)));
  }
  return result;
}

std::vector<std::string> canaries_in(const std::string& text) {
  std::vector<std::string> found;
  for (const char* canary :
       {k_key, k_provider_canary, k_limited_canary, k_refused_canary, k_failing_canary}) {
    if (contains(text, canary)) {
      found.emplace_back(canary);
    }
  }
  return found;
}

ServeProcess::ServeProcess(const std::vector<std::string>& args, const Env& env) {
  std::vector<std::string> full = {"serve", "--port", "0"};
  full.insert(full.end(), args.begin(), args.end());
  int in = -1, out = -1, err = -1;
  m_pid = spawn(full, env, in, out, err);
  close(in);
  close(out);
  m_reader = std::thread([this, err] { read_stderr(err); });

  // The text banner says "listening on http://HOST:PORT"; the JSON one has
  // "url":"http://HOST:PORT".
  static const std::regex k_listening(R"((?:listening on |"url":")http://[^:]+:(\d+))");
  std::unique_lock lock(m_mutex);
  const bool ready = m_changed.wait_for(lock, std::chrono::seconds(10), [&] {
    return m_eof || std::regex_search(m_log, k_listening);
  });
  std::smatch match;
  if (!ready || !std::regex_search(m_log, match, k_listening)) {
    const std::string log = m_log;
    lock.unlock();
    kill(m_pid, SIGKILL);
    int status = 0;
    waitpid(m_pid, &status, 0);
    m_reader.join();
    throw std::runtime_error("agproxy serve did not start:\n" + log);
  }
  m_port = std::stoi(match[1]);
}

ServeProcess::~ServeProcess() {
  if (!m_exit) {
    kill(m_pid, SIGKILL);
    int status = 0;
    waitpid(m_pid, &status, 0);
  }
  if (m_reader.joinable()) {
    m_reader.join();
  }
  const std::vector<std::string> leaked = canaries_in(log());
  CHECK_MESSAGE(leaked.empty(),
                "a secret in agproxy serve's log: …"
                    << (leaked.empty() ? "" : leaked[0].substr(leaked[0].size() - 4)));
}

void ServeProcess::read_stderr(int fd) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    std::lock_guard lock(m_mutex);
    if (n <= 0) {
      m_eof = true;
      m_changed.notify_all();
      break;
    }
    m_log.append(buffer, static_cast<size_t>(n));
    m_changed.notify_all();
  }
  close(fd);
}

std::string ServeProcess::log() const {
  std::lock_guard lock(m_mutex);
  return m_log;
}

bool ServeProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(m_mutex);
  return m_changed.wait_for(lock, timeout, [&] { return m_log.find(text) != std::string::npos; });
}

void ServeProcess::send_signal(int signal) const {
  kill(m_pid, signal);
}

std::optional<int> ServeProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (m_exit) {
    return m_exit;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_exit = decode_status(status);
      return m_exit;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::nullopt;
}

} // namespace agproxy::test
