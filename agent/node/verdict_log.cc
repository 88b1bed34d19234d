#include "agent/node/verdict_log.h"

#include <arpa/inet.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/log.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/policy/model.h"

namespace warden::node {

namespace {

std::string Addr(uint8_t family, const uint8_t* a) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == WD_AF_INET ? AF_INET : AF_INET6, a, buf, sizeof(buf));
  return buf;
}

std::string ProtoName(uint8_t p) {
  if (auto named = policy::ProtocolOfIpNumber(p)) return policy::ProtocolName(*named);
  if (p == IPPROTO_ICMP) return "ICMP";
  if (p == IPPROTO_ICMPV6) return "ICMPv6";
  return std::to_string(p);
}

// A pod as the policy model needs it (namespace, labels, account, named ports, addresses), made
// from what a node state says of its identity: for pods of this node and peers alike.
std::optional<policy::Pod> PodOf(const nodestate::NodeState& s, uint32_t identity,
                                 const std::string& key, std::vector<policy::IpAddress> ips) {
  auto id = s.identities->find(identity);
  if (id == s.identities->end()) return std::nullopt;
  policy::Pod pod;
  pod.ns = id->second.ns;
  pod.name = key.empty() ? "" : key.substr(key.find('/') + 1);
  pod.labels = id->second.labels;
  pod.service_account = id->second.service_account;
  for (const auto& np : id->second.named_ports)
    pod.ports.push_back(policy::ContainerPort{np.name, np.port, np.protocol});
  pod.ips = std::move(ips);
  return pod;
}

// The NetworkPolicy that allowed, or those that isolate the pod: what the model says of the
// event's flow over the policies and namespaces the state in force was compiled from.
std::string PolicyOf(const nodestate::NodeState& s, const std::string& pod_key, const wd_event& e,
                     const std::string& remote_text) {
  auto sched = s.pods.find(pod_key);
  if (sched == s.pods.end()) return "";
  std::optional<policy::Pod> local =
      PodOf(s, sched->second.identity, pod_key, sched->second.addresses);
  if (!local) return "";
  policy::Endpoint peer;
  std::optional<policy::Pod> remote;
  if (auto ip = policy::ParseIp(remote_text); ip.ok()) {
    peer.ip = *ip;
    auto host = s.ipcache->find(policy::HostPrefix(*ip));
    if (host != s.ipcache->end()) {
      remote = PodOf(s, host->second.identity, "", {*ip});
      // A pod whose identity the node was not sent: its namespace is all a rule of the node's
      // pods can have selected it by.
      auto ns = s.identities->find(host->second.ns_identity);
      if (!remote && host->second.ns_identity != WD_ID_NONE && ns != s.identities->end()) {
        remote = policy::Pod{};
        remote->ns = ns->second.ns;
        remote->ips = {*ip};
        peer.labels_unknown = true;
      }
    }
    if (remote) peer.pod = &*remote;
  }
  policy::ClusterState objects;
  objects.namespaces = s.namespaces;
  // Only the policies of the pod's own namespace can select it.
  if (auto block = s.network_policies.find(local->ns); block != s.network_policies.end()) {
    for (const auto& [name, np] : *block->second) objects.policies.emplace(np.Key(), np);
  }
  const bool egress = e.direction == WD_DIR_EGRESS;
  policy::L4 l4{policy::ProtocolOfIpNumber(e.protocol), egress ? e.remote_port : e.local_port};
  auto d = policy::Model(objects).Evaluate(
      egress ? policy::Direction::kEgress : policy::Direction::kIngress, *local, peer, l4);
  return d.allowed ? d.allowing_policy : absl::StrJoin(d.isolating_policies, ",");
}

// At connect and sendmsg the kernel has not chosen the socket's source yet (the event carries the
// unspecified address): it will be the pod's own address of the flow's family, which the state in
// force knows. "" when it does not (a host process, an unknown pod, no address of that family).
std::string SourceBeforeBind(const EventContext& ctx, const std::string& pod_key, uint8_t family) {
  if (!ctx.desired || pod_key.empty()) return "";
  auto sched = ctx.desired->pods.find(pod_key);
  if (sched == ctx.desired->pods.end()) return "";
  const policy::Family want = family == WD_AF_INET ? policy::Family::kV4 : policy::Family::kV6;
  for (const policy::IpAddress& ip : sched->second.addresses) {
    if (ip.family == want) return ip.ToString();
  }
  return "";
}

bool Unspecified(uint8_t family, const uint8_t* a) {
  const int n = family == WD_AF_INET ? 4 : 16;
  for (int i = 0; i < n; ++i) {
    if (a[i]) return false;
  }
  return true;
}

}  // namespace

std::string VerdictLogLine(const wd_event& e, int64_t wall_ns, const EventContext& ctx) {
  using nlohmann::json;
  bool egress = e.direction == WD_DIR_EGRESS;
  std::string local = Addr(e.family, e.local_addr), remote = Addr(e.family, e.remote_addr);
  json j;
  j["time"] = common::Rfc3339(wall_ns);
  j["node"] = ctx.node;
  std::string pod_key;
  if (ctx.pod_by_cgroup) {
    auto it = ctx.pod_by_cgroup->find(e.cgroup_id);
    if (it != ctx.pod_by_cgroup->end()) pod_key = it->second;
  }
  if (!pod_key.empty()) {
    size_t slash = pod_key.find('/');
    j["namespace"] = pod_key.substr(0, slash);
    j["pod"] = pod_key.substr(slash + 1);
    if (ctx.desired) {
      auto id = ctx.desired->identities->find(e.local_identity);
      if (id != ctx.desired->identities->end()) j["service_account"] = id->second.service_account;
    }
  } else if (e.local_identity == WD_ID_HOST) {
    j["namespace"] = "";
    j["pod"] = "";
    j["host"] = true;
  } else {
    j["namespace"] = "";
    j["pod"] = "";
    j["unknown_pod_cgroup"] = e.cgroup_id;
  }
  if (egress && (e.hook == WD_HOOK_CONNECT || e.hook == WD_HOOK_SENDMSG) &&
      Unspecified(e.family, e.local_addr)) {
    if (std::string own = SourceBeforeBind(ctx, pod_key, e.family); !own.empty()) local = own;
  }
  j["identity"] = e.local_identity;
  j["remote_identity"] = e.remote_identity;
  j["hook"] = datapath::HookName(e.hook);
  j["direction"] = egress ? "egress" : "ingress";
  j["protocol"] = ProtoName(e.protocol);
  j["src"] = egress ? local : remote;
  j["sport"] = egress ? e.local_port : e.remote_port;
  j["dst"] = egress ? remote : local;
  j["dport"] = egress ? e.remote_port : e.local_port;
  j["verdict"] = e.verdict == WD_VERDICT_ALLOW ? "allow" : "deny";
  j["reason"] = datapath::ReasonName(e.reason);
  // The interface programs' events name the pod's interface (the node side of its veth).
  if (e.ifindex) j["ifindex"] = e.ifindex;
  // Events are rate-limited per pod in the datapath (wd_evlimit): how many of this pod's were
  // held back since its previous one, so a flood shows as a count, not as silence.
  if (e.suppressed) j["suppressed"] = e.suppressed;
  // Which NetworkPolicy: the model names the allowing one, or the ones that isolate the pod.
  if (!pod_key.empty() && ctx.desired &&
      (e.reason == WD_REASON_ALLOW_POLICY || e.reason == WD_REASON_DENY_POLICY)) {
    j["policy"] = PolicyOf(*ctx.desired, pod_key, e, remote);
  }
  return j.dump();
}

}  // namespace warden::node
