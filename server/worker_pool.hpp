#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <httplib.h>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace agproxy {

// The gateway's workers, in place of httplib's ThreadPool (which starts every thread up front and
// wakes whichever waits longest). Each open connection holds a worker, so the maximum must cover
// the connections and streams promised; but threads start only when no idle one is left, and the
// most recently idle worker takes the next connection. So an idle gateway holds as many threads
// as its busiest moment needed, and the busy ones stay few and warm (their provider connections
// in particular: each worker keeps its own).
class WorkerPool final : public httplib::TaskQueue {
public:
  // A pool of at most `max_workers` threads (at least 1).
  explicit WorkerPool(size_t max_workers);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Run `job` on an idle worker, a new one, or the first to free up when all are busy.
  void enqueue(std::function<void()> job) override;
  // Run what is queued, then stop and join every worker.
  void shutdown() override;
  // Return how many threads have started.
  size_t started() const;
  // Return how many workers wait for a job.
  size_t idle() const;

private:
  struct Worker {
    std::condition_variable wake;
    std::function<void()> job;
  };
  void run(Worker& self);

  mutable std::mutex m_mutex;
  std::vector<Worker*> m_idle; // the most recently idle last
  std::deque<std::function<void()>> m_queued;
  std::vector<std::unique_ptr<Worker>> m_workers;
  std::vector<std::thread> m_threads;
  size_t m_max;
  size_t m_started = 0;
  bool m_stopping = false;
};

} // namespace agproxy
