// The two pods of datapath_bench [2], as processes: a server in one network namespace that
// accepts, echoes one byte and closes, and a client in the other that connects, sends one byte,
// reads the echo, waits for the server's FIN and closes, as fast as it can. The client is
// pinned to CPU 0 and the server to CPU 1.
//
// A lane is one variant of the interleaved measurement: a client and a server cgroup and a
// server port. The server listens on every lane's port from a socket made while it sat in that
// lane's cgroup (accepted sockets inherit their listener's cgroup); the client moves itself to
// a lane's cgroup before its slice, so the sockets it makes then belong to that cgroup.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace warden::bench {

struct Lane {
  std::string client_cg, server_cg;
  uint64_t client_id = 0, server_id = 0;  // the cgroups' ids
  uint16_t port = 0;
  uint32_t server_addr = 0;  // host order; 0: the peers' server address
};

struct ConnResult {
  uint64_t conns = 0, errors = 0, warmup = 0;  // warmup: connections of the uncounted warm-up
  int64_t ns = 0;
  double per_s() const { return ns > 0 ? conns * 1e9 / ns : 0; }
};

// The server and the client, started in the network namespaces `ns_server` and `ns_client`
// (names under /var/run/netns); both end when this goes. Throws Failure.
class TcpPeers {
 public:
  TcpPeers(const std::vector<Lane>& lanes, const std::string& ns_server,
           const std::string& ns_client, uint32_t server_addr);
  TcpPeers(const TcpPeers&) = delete;
  TcpPeers& operator=(const TcpPeers&) = delete;
  ~TcpPeers();

  // Connections to lane `lane` for `ms` after an uncounted warm-up of `warmup_ms`.
  ConnResult Run(int ms, int lane, int warmup_ms = 200);

 private:
  void StartServer(const std::vector<Lane>& lanes, uint32_t server_addr);
  void StartClient(const std::vector<Lane>& lanes, uint32_t server_addr);
  void Stop();  // ends the client, then the server; closes everything

  int netns_s_ = -1, netns_c_ = -1;
  int ready_[2] = {-1, -1}, cmd_[2] = {-1, -1}, resp_[2] = {-1, -1};
  pid_t server_ = -1, client_ = -1;
};

}  // namespace warden::bench
