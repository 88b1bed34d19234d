// The lab's honest probes and the servers they talk to. A TCP probe connects and exchanges one
// byte; a UDP probe sends one datagram and needs the echo back. Both run inside a pod (its
// cgroup and network namespace) so that the node's BPF programs judge them as they would judge
// the pod.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace warden::lab {

enum class ProbeOutcome {
  kConnected,
  kRefusedByPolicy /* EPERM */,
  kTimeout,
  kRefused /* RST */,
  kError
};

struct ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::kError;
  std::string detail;
  int http_status = 0;  // ProbeHttp: the answer's status code
  bool allowed() const { return outcome == ProbeOutcome::kConnected; }
};

// Moves this process into `cgroup` and its network into the named netns (/var/run/netns).
absl::Status EnterPlace(const std::string& cgroup, const std::string& netns);

// From the current process's place. `timeout_ms` bounds the whole attempt.
ProbeResult ProbeTcp(const std::string& ip, int port, int timeout_ms);
ProbeResult ProbeUdp(const std::string& ip, int port, int timeout_ms);

// An HTTP/1.1 GET of `path` with Host `host` over TCP to ip:port: kConnected once a status line
// came back (its code in `http_status`), else why not (EPERM at connect, a reset, a time-out).
ProbeResult ProbeHttp(const std::string& ip, int port, const std::string& host,
                      const std::string& path, int timeout_ms);

// Forks a child that enters (cgroup, netns) and runs `probe` there; returns the child's result.
ProbeResult ProbeIn(const std::string& cgroup, const std::string& netns,
                    const std::function<ProbeResult()>& probe);
// ProbeIn with a TCP or UDP probe.
ProbeResult ProbeFrom(const std::string& cgroup, const std::string& netns, const std::string& ip,
                      int port, bool udp, int timeout_ms);

// What `ServeForever` prints once every socket listens.
inline constexpr char kServingLine[] = "serving";

// Echo servers on every given port (TCP: read one byte, write it back; UDP: echo each datagram)
// on all addresses; prints kServingLine once they listen, then one line per connection accepted
// and per datagram received (see kAcceptedFormat), so that the receiving side of a flow can be
// counted. Runs until killed.
absl::Status ServeForever(const std::vector<int>& tcp_ports, const std::vector<int>& udp_ports);

// The servers' line per connection or datagram: "accepted PROTO LOCAL_IP LOCAL_PORT PEER_IP
// PEER_PORT" (IPv4 peers of the dual-stack sockets unmapped; a datagram's LOCAL_IP is "*").
inline constexpr char kAcceptedWord[] = "accepted";

const char* OutcomeName(ProbeOutcome o);

}  // namespace warden::lab
