// The lab's state: what `up` built and started, kept in <state dir>/state.json for the other
// verbs (probe, matrix, start-agent, start-control), the e2e tests and anyone curious. The file
// is the JSON form of LabState (nlohmann's to_json/from_json below), written whole and
// atomically: probes running in parallel read it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::lab {

// The "internet": a network namespace holding the TEST-NET hosts (IPv4 and IPv6 addresses) on
// its loopback.
struct LabInternet {
  std::string netns;
  std::string cgroup;  // its servers run here
  std::vector<std::string> hosts;
};

struct LabNode {
  std::string name;
  std::string netns;
  std::string ip, ip6;        // on the fabric
  std::string pool;           // "default" or "gateway"
  std::string cgroup;         // everything of the node; its agent's --cgroup-root
  std::string system_cgroup;  // host processes
  std::string bpffs;          // its agent's pins
  std::vector<std::string> pod_cidrs;
  // With agents (agent_argv not empty): its /metrics address, its command line (to start it
  // again as it was), its pid.
  std::string metrics;
  std::vector<std::string> agent_argv;
  pid_t agent_pid = 0;
};

struct LabPod {
  std::string key;  // "ns/name"
  std::string node;
  std::string netns;
  std::string cgroup;  // where its processes (echo servers, probes) run
  // Its addresses from status.podIP(s): at least one of the two is set.
  std::string ip, ip6;
  std::optional<pid_t> server_pid;  // its echo servers, when it serves any port
};

struct LabControl {
  std::string netns;
  std::string address;  // the Sync server, host:port
  std::string metrics;
  std::vector<std::string> argv;  // to start it again as it was
  pid_t pid = 0;
};

// `warden gateway` in a gateway pod (with a control plane; one per gateway pod on a gateway-pool
// node).
struct LabGateway {
  std::string pod;  // "ns/name"
  std::string access_log;
  std::string metrics;            // in the pod's network namespace
  std::vector<std::string> argv;  // to start it again as it was
  pid_t pid = 0;
};

struct LabState {
  std::string manifests;   // absolute path
  std::string lab_cgroup;  // <cgroup2>/warden-lab
  LabInternet inet;
  std::vector<LabNode> nodes;
  std::vector<LabPod> pods;
  std::optional<LabControl> control;  // when the lab runs a control plane
  std::vector<LabGateway> gateways;   // the replicas, in the manifests' order
  std::optional<pid_t> web_pid;       // nginx serving the internet's HTTPS hosts

  const LabNode* FindNode(const std::string& name) const;
  LabNode* FindNode(const std::string& name);
  const LabPod* FindPod(const std::string& key) const;
  LabGateway* FindGateway(const std::string& pod);
  // The cgroup of the lab's daemons (agents, control plane): `down` finds them there.
  std::string daemons_cgroup() const { return lab_cgroup + "/agents"; }
};

void to_json(nlohmann::json& j, const LabInternet& v);
void from_json(const nlohmann::json& j, LabInternet& v);
void to_json(nlohmann::json& j, const LabNode& v);
void from_json(const nlohmann::json& j, LabNode& v);
void to_json(nlohmann::json& j, const LabPod& v);
void from_json(const nlohmann::json& j, LabPod& v);
void to_json(nlohmann::json& j, const LabControl& v);
void from_json(const nlohmann::json& j, LabControl& v);
void to_json(nlohmann::json& j, const LabGateway& v);
void from_json(const nlohmann::json& j, LabGateway& v);
void to_json(nlohmann::json& j, const LabState& v);
void from_json(const nlohmann::json& j, LabState& v);

// <state dir>/state.json. NotFound when no lab is up; DataLoss when the file is not a state.
absl::StatusOr<LabState> ReadLabState(const std::string& state_dir);
// Replaces <state dir>/state.json atomically (write a temporary file, rename it).
absl::Status WriteLabState(const std::string& state_dir, const LabState& state);

// <state dir>/logs/<name>: processes' output, agents' verdict logs.
std::string LogPath(const std::string& state_dir, const std::string& name);

}  // namespace warden::lab
