#include "server/http/event_loop.hpp"

#include "server/upstream/http1/provider_pool.hpp"
#include "server/upstream/upstream_transfer.hpp"

#include <algorithm>
#include <cerrno>
#include <curl/curl.h>
#include <mutex>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <system_error>
#include <unistd.h>

namespace agproxy {

namespace {

// What an epoll event is about: the top bits of its data tell the kind, the rest a handler id or a
// descriptor.
constexpr uint64_t k_kind_shift = 61;
constexpr uint64_t k_handler = 0;
constexpr uint64_t k_curl = 1;
constexpr uint64_t k_wake = 2;
constexpr uint64_t k_listener = 3;
constexpr uint64_t k_provider = 4; // a connection of the loop's own client to a provider
constexpr uint64_t k_payload = (uint64_t{1} << k_kind_shift) - 1;

epoll_event event_for(uint64_t kind, uint64_t payload, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.u64 = (kind << k_kind_shift) | payload;
  return event;
}

} // namespace

EventLoop::EventLoop() {
  static std::once_flag init;
  std::call_once(init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  m_epoll = epoll_create1(EPOLL_CLOEXEC);
  m_wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m_epoll < 0 || m_wake < 0) {
    throw std::system_error(errno, std::generic_category(), "epoll");
  }
  epoll_event wake = event_for(k_wake, 0, EPOLLIN);
  epoll_ctl(m_epoll, EPOLL_CTL_ADD, m_wake, &wake);
  m_mailbox = std::make_shared<Mailbox>(m_wake);
  CURLM* multi = curl_multi_init();
  m_multi = multi;
  // Keep every provider connection a loop has had in use: by default libcurl's cache holds four
  // per easy handle currently added, so as requests finish it closed connections the next burst
  // then had to open again (30 new TLS connections a second at 16 client connections).
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 4096L);
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &EventLoop::on_curl_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &EventLoop::on_curl_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
}

EventLoop::~EventLoop() {
  for (auto& [fd, make] : m_incoming) {
    ::close(fd); // handed over, never adopted
  }
  m_handlers.clear(); // their transfers leave the multi handle and the pool first
  m_removed.clear();
  m_providers.reset();
  {
    std::lock_guard lock(m_mailbox->m_mutex);
    m_mailbox->m_open = false;
    m_mailbox->m_tasks.clear();
  }
  curl_multi_cleanup(static_cast<CURLM*>(m_multi));
  ::close(m_wake);
  ::close(m_epoll);
}

EventLoop::Id EventLoop::add(int fd, const Factory& make) {
  const Id id = m_next_id++;
  m_handlers.emplace(id, make(id));
  epoll_event event = event_for(k_handler, id, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
  return id;
}

ProviderPool& EventLoop::providers() {
  if (!m_providers) {
    m_providers = std::make_unique<ProviderPool>(*this);
  }
  return *m_providers;
}

void EventLoop::watch_provider(int fd, uint64_t id) {
  epoll_event event = event_for(k_provider, id, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
  epoll_ctl(m_epoll, EPOLL_CTL_ADD, fd, &event);
}

void EventLoop::Mailbox::post(std::function<void()> task) {
  std::lock_guard lock(m_mutex);
  if (!m_open) {
    return;
  }
  m_tasks.push_back(std::move(task));
  const uint64_t one = 1;
  (void)!::write(m_wake, &one, sizeof one);
}

void EventLoop::remove(Id id) {
  const auto it = m_handlers.find(id);
  if (it != m_handlers.end()) {
    m_removed.push_back(std::move(it->second));
    m_handlers.erase(it);
  }
}

void EventLoop::listen(int fd, std::function<void()> on_ready) {
  m_listen = fd;
  m_on_ready = std::move(on_ready);
  watch_listener(true);
}

void EventLoop::watch_listener(bool on) {
  if (m_listen < 0 || on == m_listening) {
    return;
  }
  // EPOLLEXCLUSIVE: a new connection wakes one of the loops, not all of them.
  epoll_event event = event_for(k_listener, 0, EPOLLIN | EPOLLEXCLUSIVE);
  epoll_ctl(m_epoll, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, m_listen, &event);
  m_listening = on;
}

void EventLoop::pause_listening() {
  watch_listener(false);
  m_listen_again = Clock::now() + k_tick;
}

void EventLoop::adopt(int fd, Factory make) {
  {
    std::lock_guard lock(m_incoming_mutex);
    m_incoming.emplace_back(fd, std::move(make));
  }
  const uint64_t one = 1;
  (void)!::write(m_wake, &one, sizeof one);
}

void EventLoop::stop() {
  m_stop_requested = true;
  const uint64_t one = 1;
  (void)!::write(m_wake, &one, sizeof one);
}

void EventLoop::cut() {
  m_cut_requested = true;
  stop();
}

int EventLoop::on_curl_socket(void*, int sock, int what, void* self, void*) {
  auto* loop = static_cast<EventLoop*>(self);
  std::vector<bool>& watched = loop->m_curl_watched;
  const auto index = static_cast<size_t>(sock);
  if (index >= watched.size()) {
    watched.resize(index + 64);
  }
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(loop->m_epoll, EPOLL_CTL_DEL, sock, nullptr);
    watched[index] = false;
    return 0;
  }
  const uint32_t events =
      ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  epoll_event event = event_for(k_curl, static_cast<uint64_t>(sock), events);
  // libcurl removes a connection's socket after each transfer and adds it back for the next; the
  // flag saves a failing MOD each time (a socket closed meanwhile falls back the other way).
  const int first = watched[index] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (epoll_ctl(loop->m_epoll, first, sock, &event) != 0) {
    epoll_ctl(loop->m_epoll, first == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, sock, &event);
  }
  watched[index] = true;
  return 0;
}

int EventLoop::on_curl_timer(void*, long timeout_ms, void* self) {
  auto* loop = static_cast<EventLoop*>(self);
  loop->m_curl_timer_set = timeout_ms >= 0;
  loop->m_curl_deadline = Clock::now() + std::chrono::milliseconds(std::max(0L, timeout_ms));
  return 0;
}

void EventLoop::curl_action(int sock, int flags) {
  auto* multi = static_cast<CURLM*>(m_multi);
  int running = 0;
  curl_multi_socket_action(multi, sock, flags, &running);
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi, &queued)) {
    if (message->msg != CURLMSG_DONE) {
      continue;
    }
    char* transfer = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &transfer);
    if (transfer) {
      reinterpret_cast<UpstreamTransfer*>(transfer)->finish(message->data.result);
    }
  }
}

template <typename Call>
void EventLoop::dispatch(Id id, Call&& call) {
  const auto it = m_handlers.find(id);
  if (it == m_handlers.end()) {
    return;
  }
  try {
    call(*it->second);
  } catch (const std::exception& e) {
    if (m_report) {
      m_report(e.what());
    }
    remove(id);
  } catch (...) {
    if (m_report) {
      m_report("unknown exception");
    }
    remove(id);
  }
}

void EventLoop::run() {
  constexpr int k_batch = 256;
  epoll_event events[k_batch];
  Clock::time_point next_tick = Clock::now() + k_tick;
  while (!(m_stopping && m_handlers.empty())) {
    Clock::time_point until = Clock::time_point::max();
    if (!m_handlers.empty() || !m_listening) {
      until = next_tick;
    }
    if (m_curl_timer_set) {
      until = std::min(until, m_curl_deadline);
    }
    int timeout = -1;
    if (until != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
      timeout = static_cast<int>(std::clamp<long long>(left, 0, 60'000));
    }
    if (!m_notified.empty()) {
      timeout = 0;
    }
    const int count = epoll_wait(m_epoll, events, k_batch, timeout);
    for (int i = 0; i < count; ++i) {
      const uint64_t kind = events[i].data.u64 >> k_kind_shift;
      const uint64_t payload = events[i].data.u64 & k_payload;
      const uint32_t what = events[i].events;
      if (kind == k_handler) {
        dispatch(payload, [what](Handler& handler) { handler.on_events(what); });
      } else if (kind == k_curl) {
        int flags = 0;
        flags |= (what & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) ? CURL_CSELECT_IN : 0;
        flags |= (what & EPOLLOUT) ? CURL_CSELECT_OUT : 0;
        flags |= (what & EPOLLERR) ? CURL_CSELECT_ERR : 0;
        curl_action(static_cast<int>(payload), flags);
      } else if (kind == k_listener) {
        try {
          m_on_ready();
        } catch (const std::exception& e) {
          if (m_report) {
            m_report(e.what()); // out of memory, most likely: the next wake tries again
          }
        }
      } else if (kind == k_provider) {
        try {
          m_providers->on_events(payload, what);
        } catch (const std::exception& e) {
          if (m_report) {
            m_report(e.what()); // out of memory: that exchange's deadline ends it
          }
        }
      } else if (kind == k_wake) {
        uint64_t value = 0;
        (void)!::read(m_wake, &value, sizeof value);
        std::vector<std::pair<int, Factory>> incoming;
        {
          std::lock_guard lock(m_incoming_mutex);
          incoming.swap(m_incoming);
        }
        std::vector<std::function<void()>> tasks;
        {
          std::lock_guard lock(m_mailbox->m_mutex);
          tasks.swap(m_mailbox->m_tasks);
        }
        for (auto& task : tasks) {
          try {
            task();
          } catch (const std::exception& e) {
            if (m_report) {
              m_report(e.what());
            }
          }
        }
        for (auto& [fd, make] : incoming) {
          if (m_stopping || m_stop_requested) {
            ::close(fd);
            continue;
          }
          try {
            add(fd, make);
          } catch (const std::exception& e) {
            ::close(fd);
            if (m_report) {
              m_report(e.what());
            }
          }
        }
        if (m_stop_requested && !m_stopping) {
          m_stopping = true;
          watch_listener(false);
          m_listen = -1;
          std::vector<Id> ids;
          for (const auto& [id, handler] : m_handlers) {
            ids.push_back(id);
          }
          for (const Id id : ids) {
            dispatch(id, [](Handler& handler) { handler.on_stop(); });
          }
          m_live = m_handlers.size();
          m_stop_seen = true;
        }
        if (m_cut_requested && !m_handlers.empty()) {
          // Destroying a handler closes its connection and cancels its provider transfer.
          m_cut = m_handlers.size();
          for (auto& [id, handler] : m_handlers) {
            m_removed.push_back(std::move(handler));
          }
          m_handlers.clear();
        }
      }
    }
    const Clock::time_point now = Clock::now();
    if (m_curl_timer_set && now >= m_curl_deadline) {
      m_curl_timer_set = false;
      curl_action(CURL_SOCKET_TIMEOUT, 0);
    }
    // Notifications can notify again (a paused transfer resumed hands over data at once); each
    // round takes what was there when it began.
    for (int round = 0; round < 8 && !m_notified.empty(); ++round) {
      std::vector<Id> ids;
      ids.swap(m_notified);
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      for (const Id id : ids) {
        dispatch(id, [](Handler& handler) { handler.on_notify(); });
      }
    }
    if (now >= next_tick) {
      next_tick = now + k_tick;
      if (!m_listening && m_listen >= 0 && now >= m_listen_again) {
        watch_listener(true);
      }
      std::vector<Id> ids;
      ids.reserve(m_handlers.size());
      for (const auto& [id, handler] : m_handlers) {
        ids.push_back(id);
      }
      for (const Id id : ids) {
        dispatch(id, [now](Handler& handler) { handler.on_tick(now); });
      }
    }
    m_removed.clear();
    m_live = m_handlers.size();
  }
}

} // namespace agproxy
