// ThreadPool: a fixed set of workers that run parallel-for loops with the caller.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace gpt2q {

// Runs `n_tasks` independent tasks on `num_threads` threads (the calling thread
// is one of them). Tasks are claimed dynamically, but a task's work must not
// depend on which thread runs it: that is what makes results identical for any
// thread count. Workers spin briefly before sleeping, because decode issues
// thousands of short loops per second and a futex wake costs tens of µs.
class ThreadPool {
 public:
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Calls task(i) for every i in [0, n_tasks), in parallel; returns when all are done.
  // Not reentrant: a task must not call ParallelFor on the same pool.
  void ParallelFor(int64_t n_tasks, const std::function<void(int64_t)>& task);

  // Calls fn(first, count) over [0, n) cut into chunks of `chunk` (the last
  // one shorter), one task per chunk: the cut depends on n and chunk only.
  template <typename Fn>
  void ParallelForChunks(int64_t n, int64_t chunk, Fn&& fn) {
    ParallelFor((n + chunk - 1) / chunk, [&](int64_t t) {
      const int64_t first = t * chunk;
      fn(first, n - first < chunk ? n - first : chunk);
    });
  }

  // Returns a default thread count: the number of online cores.
  static int DefaultThreads();

 private:
  void WorkerLoop();
  void RunTasks();

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> busy_workers_{0};
  int64_t n_tasks_ = 0;
  const std::function<void(int64_t)>* task_ = nullptr;
  bool stop_ = false;
};

}  // namespace gpt2q
