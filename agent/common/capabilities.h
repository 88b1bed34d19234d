// Linux capabilities of processes: what a process may do beyond an ordinary user's, read from
// /proc (the effective set) and, for a process of our own, given up (capset). Capability numbers
// are the kernel's (linux/capability.h).
#pragma once

#include <linux/capability.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace warden::common {

using CapabilitySet = uint64_t;  // bit n = capability n

constexpr CapabilitySet Capability(int n) { return CapabilitySet{1} << n; }

// The effective capabilities of process `pid` (NotFound once it has gone).
absl::StatusOr<CapabilitySet> EffectiveCapabilities(pid_t pid);

// The effective capabilities of this process (capget: no /proc needed).
absl::StatusOr<CapabilitySet> OwnEffectiveCapabilities();

// The union of the effective capabilities of every process in the cgroup tree at `path`.
absl::StatusOr<CapabilitySet> EffectiveCapabilitiesInCgroup(const std::string& path);

// The capabilities containerd gives every container unless its spec adds or drops some
// (containerd oci/spec.go, defaultUnixCaps; the same list as moby's default): NET_RAW is in,
// NET_ADMIN and SYS_ADMIN are not. /proc/PID/status shows them as CapEff 00000000a80425fb.
inline constexpr CapabilitySet kContainerDefaultCapabilities =
    Capability(CAP_CHOWN) | Capability(CAP_DAC_OVERRIDE) | Capability(CAP_FSETID) |
    Capability(CAP_FOWNER) | Capability(CAP_MKNOD) | Capability(CAP_NET_RAW) |
    Capability(CAP_SETGID) | Capability(CAP_SETUID) | Capability(CAP_SETFCAP) |
    Capability(CAP_SETPCAP) | Capability(CAP_NET_BIND_SERVICE) | Capability(CAP_SYS_CHROOT) |
    Capability(CAP_KILL) | Capability(CAP_AUDIT_WRITE);

// Limits this process, and every program it executes, to `keep` (less any it does not hold):
// the bounding, permitted and effective sets become `keep`, the inheritable and ambient sets
// empty. A root process keeps them across execve because root's permitted set after execve is
// its bounding set.
absl::Status KeepOnlyCapabilities(CapabilitySet keep);

// "NET_ADMIN" for CAP_NET_ADMIN, ... ("CAP_<n>" for a number without a name here).
std::string CapabilityName(int n);

}  // namespace warden::common
