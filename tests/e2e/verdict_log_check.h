// What the agents' verdict logs say about an attack: the refusal reasons issue 12 names (kept
// here, in one place) and a look-up of a node's log for a pod's refusal.
#pragma once

#include <string>
#include <utility>

namespace warden::e2e {

// The reasons of refusals that a hostile pod's attacks must be logged with.
namespace reason {
inline constexpr char kPacketSocket[] = "packet-socket";
inline constexpr char kSpoofedSource[] = "spoofed-source";
inline constexpr char kMalformed[] = "malformed";
inline constexpr char kPoolLockdown[] = "pool-lockdown";
inline constexpr char kNotPodAddress[] = "not-pod-address";
inline constexpr char kFragment[] = "fragment";
inline constexpr char kPolicyDeny[] = "policy-deny";
}  // namespace reason

struct Refusal {
  Refusal(std::string node_name, std::string pod_key, std::string why, std::string remote = "")
      : node(std::move(node_name)),
        pod(std::move(pod_key)),
        reason(std::move(why)),
        peer(std::move(remote)) {}
  std::string node;      // whose log: <state>/logs/<node>-verdicts.jsonl
  std::string pod;       // "namespace/name"
  std::string reason;    // one of reason::
  std::string peer;      // the remote address (dst for egress, src for ingress); "" = any
  int peer_port = 0;     // the remote port; 0 = any
  std::string protocol;  // "TCP", "UDP", "ICMP", ...; "" = any
};

// Waits up to `wait_ms` for a line of the log denying `r`; returns "" when found, else what the
// log holds for that pod (for the failure message).
std::string FindRefusal(const std::string& state_dir, const Refusal& r, int wait_ms = 3000);

}  // namespace warden::e2e
