// The load `scripts/bench gateway` puts on a proxy: keep-alive connections with a client
// certificate (as a node's forwarder presents), each sending GET requests one after the other
// for a fixed time (a closed loop), every latency recorded; and connections opened and left idle,
// to weigh what an idle connection costs the proxy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace warden::bench {

struct LoadSpec {
  uint16_t port = 0;
  bool flow_header = false;  // Warden's gateway: the forwarder's flow header first
  int connections = 32;
  double seconds = 5;
  double warmup_seconds = 1;  // requests before this are not counted
  std::string ca, cert, key;
};

struct LoadResult {
  uint64_t requests = 0, errors = 0;
  double seconds = 0;
  double rps = 0, p50_us = 0, p99_us = 0;
};

// Runs the load from the calling thread; `at_start` is called when the warm-up is over and
// `at_end` when the measured span ends, to read the proxy's CPU time over exactly that span.
LoadResult RunLoad(const LoadSpec& spec, const std::function<void()>& at_start,
                   const std::function<void()>& at_end);

// `n` connections to the proxy, handshaken (and the flow header sent), left open and idle until
// destroyed.
class IdleConnections {
 public:
  IdleConnections(const LoadSpec& spec, int n);
  ~IdleConnections();
  int open() const { return open_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int open_ = 0;
};

}  // namespace warden::bench
