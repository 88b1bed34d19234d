// `warden lab`: a Kubernetes-like cluster on one machine, built from network namespaces, veth
// pairs and cgroup v2, with one real `warden node` per node. See docs/lab.md.
//
//   fabric netns (bridge) ── node netns (one per Node; routes to the other nodes' podCIDRs)
//        │                       └── pod netns (one per Pod, veth, the pod's status.podIP)
//        └── "internet" netns: the TEST-NET hosts (203.0.113.0/24, 198.51.100.0/24, ...)
//
// cgroups: <cgroup2>/warden-lab/<node>/{system, kubepods/burstable/pod<uid>/probe}; each node's
// agent attaches to <cgroup2>/warden-lab/<node>. Every pod runs echo servers on each declared
// container port (TCP and UDP); the internet hosts serve TCP 80, 443, 8443 and UDP/TCP 53.
#pragma once

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
  bool control = true;           // run `warden control` and the agents in control-plane mode
  std::vector<int> serve_ports;  // every pod also serves these, on TCP and UDP
};

absl::Status LabUp(const LabOptions& opts);
absl::Status LabDown(const std::string& state_dir);

struct ProbeSpec {
  std::string from;  // "ns/pod" or "node:NAME" (a host process on that node)
  std::string to;    // "ns/pod" or an address
  int port = 0;
  bool udp = false;
  int timeout_ms = 1000;
};

struct ProbeReport {
  std::string from, to;
  int port = 0;
  std::string protocol;
  bool allowed = false;
  std::string outcome;  // connected, eperm, timeout, refused, error
  std::string detail;
};

// Starts the control plane again (after it was killed), with the flags it had.
absl::StatusOr<pid_t> LabStartControl(const std::string& state_dir);

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

// Every ordered pair of distinct pods, each port and protocol, probed for real, in parallel.
absl::StatusOr<std::vector<ProbeReport>> LabMatrix(const std::string& state_dir,
                                                   const std::vector<int>& ports,
                                                   const std::vector<std::string>& protocols,
                                                   int timeout_ms, int parallel);

}  // namespace warden::lab
