// The Linux capabilities `warden node` needs, in one place: the agent checks its effective set
// against them before doing anything else, the DaemonSet grants exactly them (every other one
// dropped), and tests/e2e/agent_capabilities_test.cc runs the agent with exactly them and with
// each one missing. Found by experiment (kernel 6.18, libbpf 1.1; docs/datapath.md):
//   CAP_BPF       bpf(): creating the maps, loading the programs, pinning and opening pins.
//                 Without it libbpf's first probe load fails with EPERM.
//   CAP_NET_ADMIN loading network program types (cgroup_skb, cgroup_sock_addr, sockops, tc) and
//                 attaching them to cgroups and interfaces. Without it the first program load
//                 (wd_connect4) fails with EPERM.
//   CAP_PERFMON   the verifier lets programs do pointer arithmetic on packet data only with it
//                 ("pointer arithmetic with it prohibited for !root"). Without it wd_egress is
//                 refused with EACCES.
// Not needed: CAP_SYS_RESOURCE (BPF memory is charged to the memory cgroup since Linux 5.11, not
// RLIMIT_MEMLOCK: libbpf does not raise the limit), CAP_SYS_ADMIN unless the agent mounts bpffs
// itself or joins --netns (an init container mounts bpffs; the pod uses the host's network).
#pragma once

#include <linux/capability.h>

#include "absl/status/status.h"
#include "agent/common/capabilities.h"

namespace warden::node {

struct RequiredCapability {
  int capability;   // CAP_*
  const char* use;  // what the agent needs it for (said when it is missing)
};

inline constexpr RequiredCapability kRequiredCapabilities[] = {
    {CAP_BPF, "creating BPF maps, loading and pinning BPF programs"},
    {CAP_NET_ADMIN, "loading and attaching cgroup, sockops and tc programs"},
    {CAP_PERFMON, "the verifier's packet pointer arithmetic in the programs"},
};

// Wanted, not required: without them a part of the agent does less, and says so at start.
inline constexpr RequiredCapability kOptionalCapabilities[] = {
    // Pods behind a bridge have their interface found from inside their network namespace
    // (pod_netns_interface.h): opening /proc/PID/ns/net of a process holding capabilities the
    // agent lacks fails with EACCES without CAP_SYS_PTRACE, setns() with EPERM without
    // CAP_SYS_ADMIN. Without both such pods are judged by the cgroup programs only.
    {CAP_SYS_PTRACE, "finding the interface of a pod behind a bridge (/proc/PID/ns/net)"},
    {CAP_SYS_ADMIN, "finding the interface of a pod behind a bridge (setns)"},
};

// The set of kRequiredCapabilities.
common::CapabilitySet RequiredCapabilitySet();

// OK when `effective` holds every capability the agent needs (also CAP_SYS_ADMIN when it must
// join a network namespace, `joins_netns`); else PermissionDenied naming each missing one and
// what it is for: "needs CAP_BPF (creating BPF maps, ...): not in its effective set".
absl::Status CheckCapabilities(common::CapabilitySet effective, bool joins_netns);

// What kOptionalCapabilities `effective` lacks, as one warning ("" when it holds them all).
std::string MissingOptionalCapabilities(common::CapabilitySet effective);

// `st` with the capabilities it was likely refused for named, when it is a permission error
// (EPERM, EACCES) of the BPF calls; any other status unchanged.
absl::Status ExplainPermissionError(const absl::Status& st);

}  // namespace warden::node
