// Linux capabilities of processes: what a process may do beyond an ordinary user's, read from
// /proc (the effective set) and, for a process of our own, given up (capset). Capability numbers
// are the kernel's (linux/capability.h).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace warden::common {

using CapabilitySet = uint64_t;  // bit n = capability n

constexpr CapabilitySet Capability(int n) { return CapabilitySet{1} << n; }

// The effective capabilities of process `pid` (NotFound once it has gone).
absl::StatusOr<CapabilitySet> EffectiveCapabilities(pid_t pid);

// The union of the effective capabilities of every process in the cgroup tree at `path`.
absl::StatusOr<CapabilitySet> EffectiveCapabilitiesInCgroup(const std::string& path);

// Keeps only `keep` of this process's capabilities (effective, permitted, inheritable; the
// bounding set too, so that executing a program cannot regain the others).
absl::Status KeepOnlyCapabilities(CapabilitySet keep);

// "NET_ADMIN" for CAP_NET_ADMIN, ... ("CAP_<n>" for a number without a name here).
std::string CapabilityName(int n);

}  // namespace warden::common
