// The lab's honest probes and the servers they talk to. A TCP probe connects and exchanges one
// byte; a UDP probe sends one datagram and needs the echo back. Both run inside a pod (its
// cgroup and network namespace) so that the node's BPF programs judge them as they would judge
// the pod.
#pragma once

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
  bool allowed() const { return outcome == ProbeOutcome::kConnected; }
};

// Moves this process into `cgroup` and its network into the named netns (/var/run/netns).
absl::Status EnterPlace(const std::string& cgroup, const std::string& netns);

// From the current process's place. `timeout_ms` bounds the whole attempt.
ProbeResult ProbeTcp(const std::string& ip, int port, int timeout_ms);
ProbeResult ProbeUdp(const std::string& ip, int port, int timeout_ms);

// Forks a child that enters (cgroup, netns) and probes; returns the child's result.
ProbeResult ProbeFrom(const std::string& cgroup, const std::string& netns, const std::string& ip,
                      int port, bool udp, int timeout_ms);

// What `ServeForever` prints once every socket listens.
inline constexpr char kServingLine[] = "serving";

// Echo servers on every given port (TCP: read one byte, write it back; UDP: echo each datagram)
// on all addresses; prints kServingLine once they listen. Runs until killed.
absl::Status ServeForever(const std::vector<int>& tcp_ports, const std::vector<int>& udp_ports);

const char* OutcomeName(ProbeOutcome o);

}  // namespace warden::lab
