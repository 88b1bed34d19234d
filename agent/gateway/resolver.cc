#include "agent/gateway/resolver.h"

#include <netdb.h>
#include <netinet/in.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

namespace warden::gateway {
namespace {

// Lives for the process: its threads are detached and wait for work.
class Pool {
 public:
  static Pool& Get() {
    static Pool* p = new Pool();
    return *p;
  }
  void Add(std::shared_ptr<ResolveOp::Job> j) {
    {
      std::lock_guard<std::mutex> l(mu_);
      jobs_.push_back(std::move(j));
    }
    cv_.notify_one();
  }

 private:
  Pool() {
    for (int i = 0; i < 2; ++i) std::thread([this] { Loop(); }).detach();
  }
  void Loop() {
    while (true) {
      std::shared_ptr<ResolveOp::Job> j;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return !jobs_.empty(); });
        j = std::move(jobs_.front());
        jobs_.pop_front();
      }
      Run(*j);
      Ring::PostTo(j->ring_id, [j] { j->h.resume(); });
    }
  }
  static void Run(ResolveOp::Job& j) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(j.host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      j.result.error = gai_strerror(rc);
      return;
    }
    for (addrinfo* a = res; a; a = a->ai_next) {
      sockaddr_storage ss{};
      if (a->ai_family == AF_INET) {
        std::memcpy(&ss, a->ai_addr, sizeof(sockaddr_in));
        reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(j.port);
      } else if (a->ai_family == AF_INET6) {
        std::memcpy(&ss, a->ai_addr, sizeof(sockaddr_in6));
        reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(j.port);
      } else {
        continue;
      }
      j.result.addresses.push_back(ss);
    }
    freeaddrinfo(res);
    if (j.result.addresses.empty()) j.result.error = "no address";
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<ResolveOp::Job>> jobs_;
};

}  // namespace

ResolveOp::ResolveOp(Ring* ring, std::string host, uint16_t port)
    : job_(std::make_shared<Job>(Job{ring->id(), std::move(host), port, {}, {}})) {}

void ResolveOp::await_suspend(std::coroutine_handle<> h) {
  job_->h = h;
  Pool::Get().Add(job_);
}

}  // namespace warden::gateway
