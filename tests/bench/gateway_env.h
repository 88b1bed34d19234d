// What `scripts/bench gateway` runs on loopback: a PKI of its own, the upstream (nginx serving
// HTTPS with keep-alive), and the three proxies compared, each configured as the same proxy
// (client-certificate TLS in, TLS originated with verification and SNI, upstream keep-alive, a
// JSON access log) and pinned to one core: Warden's gateway (the real `warden gateway` binary,
// from a manifests directory), nginx and HAProxy.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "tests/lib/scratch_dir.h"

namespace warden::bench {

struct Proxy {
  std::string name;  // "warden", "nginx", "haproxy"
  uint16_t port = 0;
  pid_t pid = 0;             // the process whose threads (and children) are counted
  bool flow_header = false;  // Warden's gateway reads the forwarder's flow header first
};

class GatewayEnv {
 public:
  // `proxy_cpu`: the core every proxy is pinned to (the upstream and the client use the others).
  GatewayEnv(const std::string& warden_binary, int proxy_cpu);
  ~GatewayEnv();

  const std::vector<Proxy>& proxies() const { return proxies_; }
  const Proxy& proxy(const std::string& name) const;
  std::string ca() const;
  std::string client_cert() const;  // node-1's, what forwarders present
  std::string client_key() const;
  const std::string& dir() const { return dir_.path(); }
  // CPU time (ns) of `p` and of every process below it.
  long long CpuNs(const Proxy& p) const;
  // Of that, the time in the kernel (stime of /proc/PID/stat, clock ticks: coarse, so read over
  // seconds): sends and receives, which no proxy can avoid, and the loopback peers' receive
  // processing, which runs in the sender's context.
  long long KernelNs(const Proxy& p) const;

 private:
  void StartUpstream();
  void StartWarden(const std::string& binary, int cpu);
  void StartNginxProxy(int cpu);
  void StartHaproxy(int cpu);

  testlib::ScratchDir dir_;
  uint16_t upstream_port_ = 0;
  pid_t upstream_ = 0;
  std::vector<Proxy> proxies_;
};

}  // namespace warden::bench
