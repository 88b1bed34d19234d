// `warden lab`: a Kubernetes-like cluster on one machine, built from network namespaces, veth
// pairs and cgroup v2, with one real `warden node` per node. See docs/lab.md.
//
//   fabric netns (bridge) ── node netns (one per Node; routes to the other nodes' pods)
//        │                       └── pod netns (one per Pod, veth, the pod's status.podIP(s))
//        └── "internet" netns: the TEST-NET hosts (203.0.113.0/24, 198.51.100.0/24, ...) and
//            their IPv6 twins (2001:db8::/32)
//
// cgroups: <cgroup2>/warden-lab/<node>/{system, kubepods/burstable/pod<uid>/probe}; each node's
// agent attaches to <cgroup2>/warden-lab/<node>. Every pod runs echo servers on each declared
// container port (TCP and UDP); the internet hosts serve TCP 80, 443, 8443 and UDP/TCP 53.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include <sys/types.h>

#include "absl/status/statusor.h"

namespace warden::lab {

struct LabOptions {
  std::string manifests;
  std::string state_dir = "/run/warden-lab";
  std::string warden_binary;            // defaults to /proc/self/exe
  std::vector<std::string> agent_args;  // extra flags for every `warden node`
  bool agents = true;
  bool control = true;  // run `warden control` and the agents in control-plane mode
  // With a control plane: nginx serving the internet's HTTPS hosts, and `warden gateway` in the
  // gateway pod (a pod of warden-egress on a gateway-pool node) instead of its echo servers.
  bool gateway = true;
  std::vector<int> serve_ports;  // every pod also serves these, on TCP and UDP
  // Where `up` says what it starts and how long each step took (none: silent). Building the lab
  // takes tens of seconds, mostly the verifier taking each agent's programs.
  std::ostream* progress = nullptr;
};

absl::Status LabUp(const LabOptions& opts);
absl::Status LabDown(const std::string& state_dir);

struct ProbeSpec {
  std::string from;  // "ns/pod", "node:NAME" (a host process on that node) or "internet"
  std::string to;    // "ns/pod" or an address (IPv4 or IPv6)
  int port = 0;
  bool udp = false;
  int timeout_ms = 1000;
  // 4 or 6: which of the pod `to` names is probed, or the family an address `to` must have.
  // 0: the pod's IPv4 address when it has one, else its IPv6 one.
  int family = 0;
};

struct ProbeReport {
  std::string from, to;
  int port = 0;
  std::string protocol;
  int family = 4;  // of the address probed
  bool allowed = false;
  std::string outcome;  // connected, eperm, timeout, refused, error
  std::string detail;
};

// Starts the control plane again (after it was killed), with the flags it had.
absl::StatusOr<pid_t> LabStartControl(const std::string& state_dir);

// Starts a gateway replica again (after it was killed), with the flags it had: the one in `pod`
// ("ns/name"), or with `pod` empty every replica whose process is gone. Returns once each has a
// state from the control plane (an error if one exits first or has none in 20 s).
absl::StatusOr<std::vector<pid_t>> LabStartGateway(const std::string& state_dir,
                                                   const std::string& pod = "");

// Starts the agent of `node` again (after it was killed), with the flags it had.
absl::StatusOr<pid_t> LabStartAgent(const std::string& state_dir, const std::string& node);

absl::StatusOr<ProbeReport> LabProbe(const std::string& state_dir, const ProbeSpec& spec);

struct ExecSpec {
  std::string in;  // "ns/pod", "node:NAME" (its host processes) or "internet"
  std::vector<std::string> argv;
  // In a pod the command keeps only the capabilities a container gets by default
  // (kContainerDefaultCapabilities: NET_RAW yes, NET_ADMIN no) unless `privileged`; on a node
  // and in the internet it keeps all of them.
  bool privileged = false;
};

// The lab's `kubectl exec`: runs spec.argv inside spec.in (see RunIn in lab_exec.h) and returns
// its exit status. Errors name the flag: --state when no lab is up, --in for an unknown place.
absl::StatusOr<int> LabExec(const std::string& state_dir, const ExecSpec& spec);

struct MatrixSpec {
  std::vector<int> ports;
  std::vector<std::string> protocols;  // "TCP", "UDP"
  // 4, 6 or both; empty: both when a pod of the lab has an IPv6 address, else 4.
  std::vector<int> families;
  int timeout_ms = 1000;
  int parallel = 16;
};

// Every ordered pair of distinct pods that both have an address of the family, for each family,
// port and protocol (in that order, pairs sorted), probed for real, in parallel.
absl::StatusOr<std::vector<ProbeReport>> LabMatrix(const std::string& state_dir,
                                                   const MatrixSpec& spec);

}  // namespace warden::lab
