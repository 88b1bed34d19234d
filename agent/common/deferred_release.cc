#include "agent/common/deferred_release.h"

#include <sys/resource.h>
#include <unistd.h>

namespace warden::common {

DeferredRelease::DeferredRelease(size_t backlog) : backlog_(backlog), thread_([this] { Run(); }) {}

DeferredRelease::~DeferredRelease() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  queue_.clear();
}

void DeferredRelease::Release(std::shared_ptr<const void> p) {
  if (!p) return;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (queue_.size() < backlog_) {
      queue_.push_back(std::move(p));
      p = nullptr;
    }
  }
  cv_.notify_one();
  p.reset();  // the backlog is full: freed here, outside the lock
}

void DeferredRelease::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  drained_cv_.wait(l, [&] { return (queue_.empty() && !busy_) || stopping_; });
}

void DeferredRelease::Run() {
  // Linux gives each thread its own nice value: only this one is lowered. Failing to lower it
  // costs latency, not correctness.
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
  std::unique_lock<std::mutex> l(mu_);
  while (true) {
    cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    std::shared_ptr<const void> p = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    l.unlock();
    p.reset();  // the free happens here, unless another holder still has it
    l.lock();
    busy_ = false;
    if (queue_.empty()) drained_cv_.notify_all();
  }
  drained_cv_.notify_all();
}

}  // namespace warden::common
