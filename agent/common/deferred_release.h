// Drops the last references to large values (a replaced compile, the node states a change made
// old) on a thread of its own at the lowest CPU priority: freeing hundreds of megabytes of maps
// takes a tenth of a second at 5,000 nodes, which the thread that publishes a change must not
// spend before the streams push it.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace warden::common {

class DeferredRelease {
 public:
  // `backlog`: queued values beyond which the caller frees what it releases itself, so that a
  // starved release thread (a CPU kept busy by changes) cannot make memory grow without bound.
  explicit DeferredRelease(size_t backlog = 1 << 15);
  // Releases whatever is still queued, on the destroying thread.
  ~DeferredRelease();
  DeferredRelease(const DeferredRelease&) = delete;
  DeferredRelease& operator=(const DeferredRelease&) = delete;

  // Takes a reference; the value is freed on the release thread if this was the last (on the
  // calling thread when the backlog is full).
  void Release(std::shared_ptr<const void> p);
  // Blocks until everything queued before this call has been released (tests).
  void Drain();

 private:
  void Run();

  const size_t backlog_;
  std::mutex mu_;
  std::condition_variable cv_, drained_cv_;
  std::deque<std::shared_ptr<const void>> queue_;
  bool busy_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace warden::common
