#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace agproxy {

class ProviderPool;

// One thread's share of the gateway: an epoll set that waits on its client connections, on its
// provider connections (its own HTTP/1.1 client's, and those of its libcurl multi handle, which
// carries requests through proxies), on the listening socket, and on a wake-up descriptor.
// Everything it owns runs on the thread that calls run(), so nothing in it is locked; under load
// one epoll_wait() returns the events of many connections and a request costs no thread switch (a
// thread per connection cost about two per request).
class EventLoop {
public:
  using Clock = std::chrono::steady_clock;
  using Id = uint64_t;

  // What the loop drives: a client connection.
  class Handler {
  public:
    virtual ~Handler() = default;
    // Its socket has `events` (epoll, edge-triggered: read and write until EAGAIN).
    virtual void on_events(uint32_t events) = 0;
    // Something it waits for moved (notify() was called with its id).
    virtual void on_notify() = 0;
    // Called about every k_tick, for deadlines.
    virtual void on_tick(Clock::time_point now) = 0;
    // The gateway is stopping: end when the request in flight, if any, is answered.
    virtual void on_stop() = 0;
  };

  // How often handlers are ticked (the granularity of every timeout but libcurl's).
  static constexpr std::chrono::milliseconds k_tick{100};

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  using Factory = std::function<std::unique_ptr<Handler>(Id)>;

  // Watch `fd` (edge-triggered, in and out) for the handler `make` builds with its id; the handler
  // owns the descriptor. Returns the id.
  Id add(int fd, const Factory& make);
  // From any thread: add(fd, make) on this loop's thread, soon (the descriptor is closed instead
  // if the loop is stopping).
  void adopt(int fd, Factory make);
  // Forget handler `id`; it is destroyed once the current callback has returned.
  void remove(Id id);
  // Call on_notify() of handler `id` before the loop waits again.
  void notify(Id id) { m_notified.push_back(id); }
  // Return the number of live handlers.
  size_t size() const { return m_handlers.size(); }
  // The libcurl multi handle whose transfers this loop drives (void* keeps curl.h out).
  void* multi() const { return m_multi; }
  // The provider connections of this loop's own HTTP/1.1 client (made on first use).
  ProviderPool& providers();
  // Watch provider connection `fd` (edge-triggered, in and out) for the pool, as connection `id`.
  void watch_provider(int fd, uint64_t id);

  // What other threads may hand to the loop while it lives (a resolver's answer): a task posted
  // runs on the loop's thread soon; once the loop is gone, posting does nothing.
  class Mailbox {
  public:
    explicit Mailbox(int wake) : m_wake(wake) {}
    // Run `task` on the loop's thread soon, if the loop is still there.
    void post(std::function<void()> task);

  private:
    friend class EventLoop;
    std::mutex m_mutex;
    int m_wake;
    bool m_open = true;
    std::vector<std::function<void()>> m_tasks;
  };
  // Return the loop's mailbox, which other threads keep.
  std::shared_ptr<Mailbox> mailbox() const { return m_mailbox; }

  // Call `on_ready` when `fd` (a listening socket shared by several loops) has connections.
  void listen(int fd, std::function<void()> on_ready);
  // Stop watching the listening socket for a while (out of descriptors).
  void pause_listening();

  // Call `report` with what a handler threw; the handler is then removed (the loop goes on).
  void on_failure(std::function<void(const char*)> report) { m_report = std::move(report); }

  // Run until stop() was called and every handler is gone.
  void run();
  // From any thread: stop accepting and tell every handler to finish.
  void stop();
  // Return whether the loop has told its handlers to finish (after stop(), soon).
  bool stop_seen() const { return m_stop_seen.load(); }
  // From any thread: the number of live handlers as of the loop's last round.
  size_t live() const { return m_live.load(); }
  // From any thread: end every handler at once (the drain is over); their count is returned by
  // cut_count() once the loop has done it.
  void cut();
  // Return how many handlers cut() ended.
  size_t cut_count() const { return m_cut.load(); }

private:
  static int on_curl_socket(void* easy, int sock, int what, void* self, void* socket_data);
  static int on_curl_timer(void* multi, long timeout_ms, void* self);
  void curl_action(int sock, int flags);
  // Call `call` on handler `id` if it is still there; remove it if it throws.
  template <typename Call>
  void dispatch(Id id, Call&& call);
  void watch_listener(bool on);

  int m_epoll = -1;
  int m_wake = -1;
  int m_listen = -1;
  bool m_listening = false;
  Clock::time_point m_listen_again{};
  std::function<void()> m_on_ready;
  std::function<void(const char*)> m_report;
  void* m_multi = nullptr;
  std::unique_ptr<ProviderPool> m_providers;
  std::shared_ptr<Mailbox> m_mailbox;
  std::vector<bool> m_curl_watched; // by descriptor: in the epoll set for libcurl
  bool m_curl_timer_set = false;
  Clock::time_point m_curl_deadline{};
  Id m_next_id = 1;
  std::unordered_map<Id, std::unique_ptr<Handler>> m_handlers;
  std::vector<std::unique_ptr<Handler>> m_removed;
  std::vector<Id> m_notified;
  bool m_stopping = false;
  // What other threads hand over, with the wake-up descriptor.
  std::mutex m_incoming_mutex;
  std::vector<std::pair<int, Factory>> m_incoming;
  std::atomic<bool> m_stop_requested{false};
  std::atomic<bool> m_stop_seen{false};
  std::atomic<bool> m_cut_requested{false};
  std::atomic<size_t> m_cut{0};
  std::atomic<size_t> m_live{0};
};

} // namespace agproxy
