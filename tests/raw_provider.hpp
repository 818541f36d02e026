#pragma once

#include <atomic>
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

} // namespace agproxy::test
