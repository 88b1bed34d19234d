// Where the lab runs a process (a pod, a node's host processes, the internet) and what a probe
// connects to, from the names the CLI and the scenario use ("ns/pod", "node:NAME", an address).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/lab/lab_state.h"

namespace warden::lab {

struct Place {
  std::string cgroup, netns;
  bool pod = false;
};

// Where `text` (the value of `flag`) runs processes: a pod, a node's host processes, the internet.
absl::StatusOr<Place> PlaceOf(const LabState& lab, const std::string& text, const char* flag);

// The pod's address of `family` (4 or 6), or "".
const std::string& PodAddress(const LabPod& pod, int family);

// What a probe connects to.
struct Target {
  std::string ip;
  int family = 4;
};

// The address `to` names: a pod's, of `family` (0: its IPv4 one when it has one); or `to`
// itself, which must be of `family` unless that is 0.
absl::StatusOr<Target> TargetOf(const LabState& lab, const std::string& to, int family);

}  // namespace warden::lab
