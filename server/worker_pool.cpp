#include "server/worker_pool.hpp"

#include <algorithm>

namespace agproxy {

WorkerPool::WorkerPool(size_t max_workers) : m_max(std::max<size_t>(1, max_workers)) {}

WorkerPool::~WorkerPool() {
  shutdown();
}

void WorkerPool::enqueue(std::function<void()> job) {
  std::unique_lock lock(m_mutex);
  if (!m_idle.empty()) {
    Worker* worker = m_idle.back();
    m_idle.pop_back();
    worker->job = std::move(job);
    lock.unlock();
    worker->wake.notify_one();
    return;
  }
  if (m_started < m_max && !m_stopping) {
    ++m_started;
    auto worker = std::make_unique<Worker>();
    worker->job = std::move(job);
    Worker& self = *worker;
    m_workers.push_back(std::move(worker));
    m_threads.emplace_back([this, &self] { run(self); });
    return;
  }
  m_queued.push_back(std::move(job));
}

void WorkerPool::run(Worker& self) {
  std::function<void()> job = std::move(self.job);
  for (;;) {
    job();
    job = nullptr;
    std::unique_lock lock(m_mutex);
    if (!m_queued.empty()) {
      job = std::move(m_queued.front());
      m_queued.pop_front();
      continue;
    }
    if (m_stopping) {
      return;
    }
    m_idle.push_back(&self);
    self.wake.wait(lock, [&] { return self.job != nullptr || m_stopping; });
    if (!self.job) {
      std::erase(m_idle, &self);
      return;
    }
    job = std::move(self.job);
    self.job = nullptr;
  }
}

void WorkerPool::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
    for (Worker* worker : m_idle) {
      worker->wake.notify_one();
    }
    threads.swap(m_threads);
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
}

size_t WorkerPool::started() const {
  std::lock_guard lock(m_mutex);
  return m_started;
}

size_t WorkerPool::idle() const {
  std::lock_guard lock(m_mutex);
  return m_idle.size();
}

} // namespace agproxy
