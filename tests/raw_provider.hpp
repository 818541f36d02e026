#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace agproxy::test {

// A provider (or forward proxy) on raw sockets, for what cpp-httplib will not do (read a GET's
// body, send a bare CR in a header, take an absolute-form target): it records each request as it
// arrived (head and body) and answers every one with `answer`, then closes the connection.
class RawProvider {
public:
  explicit RawProvider(std::string answer);
  ~RawProvider();
  RawProvider(const RawProvider&) = delete;
  RawProvider& operator=(const RawProvider&) = delete;

  // Return "http://127.0.0.1:PORT".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  // Return the requests received so far, as sent.
  std::vector<std::string> requests() const;

private:
  void serve();
  // Read one request: its head, then a body of its Content-Length or up to the last chunk.
  std::string read_request(int fd) const;

  std::string m_answer;
  int m_listen = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::vector<std::string> m_requests;
  std::thread m_thread;
};

// A provider on raw sockets that keeps connections open: each request (read as RawProvider reads
// one) is answered as `script` says, which knows the connection's number (from 1, in accept order)
// and the request's number on it. For what connection reuse must survive: a provider that closes
// an idle connection, answers with `Connection: close` or a body ended by the close, or answers
// before it has read the request's body.
class ScriptedProvider {
public:
  struct Request {
    int connection;
    int number;       // on its connection, from 1
    std::string text; // head and body as sent
  };
  struct Reply {
    std::string bytes;     // sent as they are; empty: nothing
    bool close = false;    // close the connection after them
    bool read_body = true; // read the request's body before answering
  };
  using Script = std::function<Reply(const Request&)>;

  explicit ScriptedProvider(Script script);
  ~ScriptedProvider();
  ScriptedProvider(const ScriptedProvider&) = delete;
  ScriptedProvider& operator=(const ScriptedProvider&) = delete;

  // Return the port it listens on (127.0.0.1).
  int port() const { return m_port; }
  // Return "http://127.0.0.1:PORT".
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  // Return how many connections it accepted.
  int connections() const { return m_connections.load(); }
  // Return the requests received so far.
  std::vector<Request> requests() const;

private:
  void serve(int fd, int connection);

  Script m_script;
  int m_listen = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_connections{0};
  mutable std::mutex m_mutex;
  std::vector<Request> m_requests;
  std::vector<std::thread> m_threads;
  std::thread m_acceptor;
};

} // namespace agproxy::test
