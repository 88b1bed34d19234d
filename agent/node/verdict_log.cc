#include "agent/node/verdict_log.h"

#include <arpa/inet.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
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

std::string Rfc3339(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  snprintf(out, sizeof(out), "%s.%06lldZ", buf, static_cast<long long>((ns % 1000000000) / 1000));
  return out;
}

}  // namespace

std::string VerdictLogLine(const wd_event& e, int64_t wall_ns, const EventContext& ctx) {
  using nlohmann::json;
  bool egress = e.direction == WD_DIR_EGRESS;
  std::string local = Addr(e.family, e.local_addr), remote = Addr(e.family, e.remote_addr);
  json j;
  j["time"] = Rfc3339(wall_ns);
  j["node"] = ctx.node;
  const policy::Pod* pod = nullptr;
  std::string pod_key;
  if (ctx.pod_by_cgroup) {
    auto it = ctx.pod_by_cgroup->find(e.cgroup_id);
    if (it != ctx.pod_by_cgroup->end()) pod_key = it->second;
  }
  if (!pod_key.empty() && ctx.state) pod = ctx.state->FindPod(pod_key);
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
  // Which NetworkPolicy: the model names the allowing one, or the ones that isolate the pod.
  if (pod && ctx.state &&
      (e.reason == WD_REASON_ALLOW_POLICY || e.reason == WD_REASON_DENY_POLICY)) {
    std::optional<policy::Protocol> proto = policy::ProtocolOfIpNumber(e.protocol);
    policy::Endpoint ep;
    if (auto ip = policy::ParseIp(remote); ip.ok()) {
      ep.ip = *ip;
      ep.pod = ctx.state->FindPodByIp(*ip);
    }
    policy::L4 l4{proto, egress ? e.remote_port : e.local_port};
    policy::Model model(*ctx.state);
    auto d = model.Evaluate(egress ? policy::Direction::kEgress : policy::Direction::kIngress, *pod,
                            ep, l4);
    j["policy"] = d.allowed ? d.allowing_policy : absl::StrJoin(d.isolating_policies, ",");
  }
  return j.dump();
}

}  // namespace warden::node
