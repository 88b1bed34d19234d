// Names resolved off the ring's thread: getaddrinfo blocks, so a small pool of threads shared by
// every worker runs it and hands the result back to the ring that asked (through Post). A ring
// that is gone by then is not touched.
#pragma once

#include <sys/socket.h>

#include <coroutine>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agent/gateway/ring.h"

namespace warden::gateway {

struct Resolved {
  std::vector<sockaddr_storage> addresses;  // with the port set
  std::string error;                        // empty when resolved
};

class ResolveOp {
 public:
  ResolveOp(Ring* ring, std::string host, uint16_t port);
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h);
  Resolved await_resume() { return std::move(job_->result); }

  struct Job {
    uint64_t ring_id;
    std::string host;
    uint16_t port;
    std::coroutine_handle<> h;
    Resolved result;
  };

 private:
  std::shared_ptr<Job> job_;
};

inline ResolveOp Resolve(Ring* ring, std::string host, uint16_t port) {
  return ResolveOp(ring, std::move(host), port);
}

}  // namespace warden::gateway
