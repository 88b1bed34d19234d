// The lab's processes, each started detached (a session of its own, stdin /dev/null, output
// appended to a log in the state directory): the echo servers (`warden lab serve`, which enters
// its place itself), the control plane and one agent per node. The daemons run in the lab's
// daemons cgroup, so that `down` finds them by cgroup.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/lab/lab.h"
#include "agent/lab/lab_state.h"
#include "agent/policy/objects.h"

namespace warden::lab {

inline constexpr char kControlMetrics[] = "127.0.0.1:19099";
inline constexpr int kFirstAgentMetricsPort = 19100;  // node i: this + i

// Starts `argv` detached, output appended to `log`; in `cgroup` first when not empty.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log,
                            const std::string& cgroup = "");

// The warden binary the lab runs: `configured`, or this very binary.
std::string WardenBinary(const std::string& configured);

// Where the control plane's Sync server listens.
std::string ControlAddress();
// The agents' saved states (--state-dir), with a control plane.
std::string AgentStateDir(const std::string& state_dir);

struct ServedPorts {
  std::vector<int> tcp, udp;
};
// A pod's container ports on their protocols, and `extra` on both TCP and UDP.
ServedPorts PortsToServe(const policy::Pod& pod, const std::vector<int>& extra);
// `container`: the servers keep only a container's default capabilities (a pod's servers).
absl::StatusOr<pid_t> StartEchoServers(const std::string& self, const std::string& cgroup,
                                       const std::string& netns, const ServedPorts& ports,
                                       const std::string& log, bool container);

struct StartedServer {
  pid_t pid;
  std::string log;
};
// Waits (10 s at most) until every server has printed that its sockets listen.
absl::Status WaitForServers(const std::vector<StartedServer>& servers);

// The command lines of the control plane and of `node`'s agent (PKI files under `pki`).
std::vector<std::string> ControlArgv(const std::string& self, const LabState& lab,
                                     const std::string& pki);
std::vector<std::string> AgentArgv(const LabOptions& o, const std::string& self,
                                   const LabState& lab, const LabNode& node,
                                   const std::string& pki);

// Starts the control plane, or `node`'s agent, with the command line the state holds.
absl::StatusOr<pid_t> StartControl(const LabState& lab, const std::string& state_dir);
absl::StatusOr<pid_t> StartAgent(const LabState& lab, const LabNode& node,
                                 const std::string& state_dir);

// Waits (20 s at most) until every node's agent has attached its programs (its last link is
// pinned) and, `with_control`, saved the first state the control plane sent it.
absl::Status WaitForAgents(const LabState& lab, const std::string& state_dir, bool with_control);

}  // namespace warden::lab
