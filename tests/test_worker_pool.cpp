#include "server/worker_pool.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <doctest/doctest.h>
#include <mutex>

using namespace agproxy;
using namespace std::chrono_literals;

namespace {

// A gate jobs wait at until it opens.
class Gate {
public:
  void wait() {
    std::unique_lock lock(m_mutex);
    ++m_waiting;
    m_changed.notify_all();
    m_changed.wait(lock, [&] { return m_open; });
  }
  void open() {
    std::lock_guard lock(m_mutex);
    m_open = true;
    m_changed.notify_all();
  }
  // Wait until `count` jobs are waiting; return whether they were within 5 s.
  bool until_waiting(int count) {
    std::unique_lock lock(m_mutex);
    return m_changed.wait_for(lock, 5s, [&] { return m_waiting >= count; });
  }

private:
  std::mutex m_mutex;
  std::condition_variable m_changed;
  int m_waiting = 0;
  bool m_open = false;
};

} // namespace

TEST_CASE("WorkerPool: one job at a time runs on one thread") {
  WorkerPool pool(64);
  std::atomic<int> done{0};
  for (int i = 0; i < 100; ++i) {
    pool.enqueue([&] { ++done; });
    while (done.load() <= i || pool.idle() == 0) { // until the job ran and its worker is back
      std::this_thread::yield();
    }
  }
  pool.shutdown();
  CHECK(done == 100);
  CHECK(pool.started() == 1);
}

TEST_CASE("WorkerPool: threads start as needed, up to the maximum; the rest wait their turn") {
  WorkerPool pool(4);
  Gate gate;
  std::atomic<int> done{0};
  for (int i = 0; i < 10; ++i) {
    pool.enqueue([&] {
      gate.wait();
      ++done;
    });
  }
  REQUIRE(gate.until_waiting(4));
  CHECK(pool.started() == 4);
  CHECK(done == 0);
  gate.open();
  pool.shutdown(); // runs what is queued first
  CHECK(done == 10);
  CHECK(pool.started() == 4);
}
