#include "agent/policy/explain.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace warden::policy {

namespace {

// What both sides of a flow to or from a loopback address say: the kernel's cgroup programs allow
// it before any table (bpf/warden.bpf.c, wd_decide_on), as Kubernetes does.
constexpr char kLoopbackReason[] =
    "loopback: never leaves the pod's network namespace; NetworkPolicy cannot block localhost";

// The address the kernel sends from to a loopback destination of `family` (127.0.0.1 for all of
// 127.0.0.0/8): whatever addresses the pod has, they play no part.
IpAddress LoopbackSource(Family family) {
  IpAddress a;
  a.family = family;
  if (family == Family::kV4) {
    a.bytes[0] = 127;
    a.bytes[3] = 1;
  } else {
    a.bytes[15] = 1;
  }
  return a;
}

}  // namespace

absl::StatusOr<Explainer::End> Explainer::ResolveEnd(const std::string& text,
                                                     const char* flag) const {
  End e;
  e.text = text;
  if (auto ip = ParseIp(text); ip.ok()) {
    e.ip = *ip;
    e.pod = state_.FindPodByIp(*ip);
    e.any_pod = e.pod;
    if (e.pod) e.text = e.pod->Key();
    return e;
  }
  if (text.find('/') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, " \"", text, "\": expected NAMESPACE/POD or an IP address"));
  }
  const Pod* pod = state_.FindPod(text);
  if (!pod)
    return absl::NotFoundError(
        absl::StrCat("--", flag, " \"", text, "\": no such pod in the manifests"));
  e.any_pod = pod;
  if (!pod->host_network) e.pod = pod;
  if (!pod->ips.empty()) e.ip = pod->ips.front();
  return e;
}

wd_ipcache_value Explainer::RemoteOf(const End& e) const {
  if (e.ip)
    return twin_.LookupIpcache(*e.ip).value_or(
        wd_ipcache_value{WD_ID_WORLD, WD_ID_NONE, WD_ID_NONE});
  // A pod with no address: what its packets would carry if it had one the ipcache knows.
  const CompiledPod& rec = snap_.pods.at(e.pod->Key());
  return wd_ipcache_value{rec.identity, rec.no_address_cidr_identity, rec.ns_identity};
}

FlowExplanation Explainer::Evaluate(End from, End to, const std::string& port_text,
                                    std::optional<int> port, Protocol protocol) const {
  FlowExplanation fx;
  fx.from = from.text;
  fx.to = to.text;
  fx.port_text = port_text;
  fx.port = port.value_or(0);
  fx.protocol = protocol;
  // Pick addresses of one family, as a client would: the destination's address family first,
  // then the other family both ends have (either end may be a pod with two addresses). To a
  // loopback address the kernel sends from the loopback address of that family.
  bool common_family = true;
  // To the unspecified address the kernel connects (or sends) to loopback of its family.
  if (to.ip) to.ip = SocketDestination(*to.ip);
  if (to.ip && IsLoopback(*to.ip)) {
    from.ip = LoopbackSource(to.ip->family);
  } else if (from.ip && to.ip && from.ip->family != to.ip->family) {
    std::vector<IpAddress> src =
        from.any_pod ? from.any_pod->ips : std::vector<IpAddress>{*from.ip};
    std::vector<IpAddress> dst = {*to.ip};
    if (to.any_pod) {
      for (const auto& ip : to.any_pod->ips) {
        if (ip != *to.ip) dst.push_back(ip);
      }
    }
    common_family = false;
    for (const auto& dip : dst) {
      for (const auto& sip : src) {
        if (!common_family && sip.family == dip.family) {
          from.ip = sip;
          to.ip = dip;
          common_family = true;
        }
      }
    }
  }
  if (from.ip) fx.from_ip = from.ip->ToString();
  if (to.ip) fx.to_ip = to.ip->ToString();
  if (from.pod) fx.from_identity = snap_.pods.at(from.pod->Key()).identity;
  if (to.pod) fx.to_identity = snap_.pods.at(to.pod->Key()).identity;

  if (!common_family) {
    fx.allowed = false;
    fx.reason = "no common address family between source and destination";
    return fx;
  }
  for (const End* e : {&from, &to}) {
    if (!e->pod && !e->ip) {  // a hostNetwork pod without status.podIP: nothing to look up
      fx.allowed = false;
      fx.reason = absl::StrCat(e->text, " has no address (status.podIP) to send or receive from");
      return fx;
    }
  }
  if (!port) {
    fx.allowed = false;
    fx.reason = absl::StrCat(to.text, " declares no ", ProtocolName(protocol), " port named \"",
                             port_text, "\"");
    return fx;
  }
  L4 l4{protocol, *port};
  Endpoint from_ep{from.pod, from.ip};
  Endpoint to_ep{to.pod, to.ip};

  auto side = [&](SideReport* out, Direction dir, const End& local, const End& remote,
                  const Endpoint& remote_ep) {
    // Loopback stays in the sender's network namespace: neither NetworkPolicy nor the node-pool
    // lockdown has a say (the kernel's cgroup programs allow it before any table lookup). Either
    // end being loopback puts the whole flow there.
    if ((remote.ip && IsLoopback(*remote.ip)) || (local.ip && IsLoopback(*local.ip))) {
      out->applies = local.pod != nullptr;
      out->allowed = true;
      out->reason = kLoopbackReason;
      if (local.pod) {
        SideDecision md = model_.Evaluate(dir, *local.pod, remote_ep, l4);
        out->isolated = md.isolated;
        out->isolating_policies = md.isolating_policies;
      }
      return;
    }
    if (!local.pod) {
      out->applies = false;
      out->allowed = true;
      out->reason = absl::StrCat(local.text, " is not a pod Warden enforces on");
      return;
    }
    out->applies = true;
    uint8_t wd_dir = dir == Direction::kIngress ? WD_DIR_INGRESS : WD_DIR_EGRESS;
    uint32_t local_id = snap_.pods.at(local.pod->Key()).identity;
    SideDecision md = model_.Evaluate(dir, *local.pod, remote_ep, l4);
    if (md.from_own_node) {
      // The node's own tables mark its addresses WD_ID_LOCAL_HOST, which the kernel admits
      // before any policy lookup; the cluster-wide twin has no node to stand on.
      out->allowed = true;
      out->isolated = md.isolated;
      out->isolating_policies = md.isolating_policies;
      out->reason = md.reason;
      return;
    }
    TwinVerdict tv =
        twin_.Lookup(local_id, RemoteOf(remote), wd_dir, protocol, static_cast<uint16_t>(*port));
    out->allowed = tv.allowed;
    out->isolated = tv.isolated;
    out->isolating_policies = md.isolating_policies;
    out->policy = md.allowing_policy;
    out->rule = md.rule_index;
    out->reason = md.reason;
    if (tv.allowed != md.allowed || tv.isolated != md.isolated) {
      fx.consistent = false;
      absl::StrAppend(&out->reason, " [INTERNAL ERROR: the compiled tables say ",
                      tv.allowed ? "allow" : "deny", "; please report this]");
    }
    // Direct egress to the world meets the node-pool lockdown first.
    if (lockdown_ && dir == Direction::kEgress && remote.ip &&
        RemoteOf(remote).identity == WD_ID_WORLD) {
      LockdownDecision ld =
          DecideLockdown(state_, *local.pod, *remote.ip, protocol, *port, *lockdown_);
      out->lockdown = ld.reason;
      if (!ld.allowed) {
        out->default_pool_lockdown = ld.default_pool;
        out->allowed = false;
        out->policy.clear();
        out->rule = -1;
        out->reason = ld.reason;
      }
    }
  };
  side(&fx.egress, Direction::kEgress, from, to, to_ep);
  side(&fx.ingress, Direction::kIngress, to, from, from_ep);
  fx.allowed = fx.egress.allowed && fx.ingress.allowed;
  if (fx.allowed) {
    fx.reason = absl::StrCat("egress: ", fx.egress.reason, "; ingress: ", fx.ingress.reason);
  } else if (!fx.egress.allowed && !fx.ingress.allowed) {
    fx.reason =
        absl::StrCat("egress denied: ", fx.egress.reason, "; ingress denied: ", fx.ingress.reason);
  } else if (!fx.egress.allowed) {
    fx.reason = absl::StrCat("egress denied: ", fx.egress.reason);
  } else {
    fx.reason = absl::StrCat("ingress denied: ", fx.ingress.reason);
  }
  return fx;
}

absl::StatusOr<FlowExplanation> Explainer::Explain(const std::string& from, const std::string& to,
                                                   const std::string& port,
                                                   Protocol protocol) const {
  WD_ASSIGN_OR_RETURN(End f, ResolveEnd(from, "from"));
  WD_ASSIGN_OR_RETURN(End t, ResolveEnd(to, "to"));
  if (!f.ip && !f.pod) return absl::InvalidArgumentError("--from: not a pod or an address");
  if (!t.ip && !t.pod) {
    return absl::InvalidArgumentError(
        absl::StrCat("--to \"", to, "\": the pod has no address (status.podIP)"));
  }
  int n = 0;
  if (absl::SimpleAtoi(port, &n)) {
    if (n < 1 || n > 65535)
      return absl::InvalidArgumentError(absl::StrCat("--port ", port, ": must be 1-65535"));
    return Evaluate(f, t, port, n, protocol);
  }
  if (!t.any_pod) {
    return absl::InvalidArgumentError(
        absl::StrCat("--port \"", port, "\": a named port needs a destination pod"));
  }
  auto resolved = Model::ResolveNamedPort(*t.any_pod, port, protocol);
  if (!resolved) {
    return absl::InvalidArgumentError(absl::StrCat("--port \"", port, "\": ", t.any_pod->Key(),
                                                   " declares no ", ProtocolName(protocol),
                                                   " port with that name"));
  }
  return Evaluate(f, t, port, *resolved, protocol);
}

FlowExplanation Explainer::ExplainPods(const Pod& from, const Pod& to, const std::string& port,
                                       Protocol protocol) const {
  End f{from.Key(), from.host_network ? nullptr : &from, &from, std::nullopt};
  if (!from.ips.empty()) f.ip = from.ips.front();
  End t{to.Key(), to.host_network ? nullptr : &to, &to, std::nullopt};
  if (!to.ips.empty()) t.ip = to.ips.front();
  int n = 0;
  std::optional<int> number;
  if (absl::SimpleAtoi(port, &n)) {
    number = n;
  } else {
    number = Model::ResolveNamedPort(to, port, protocol);
  }
  return Evaluate(f, t, port, number, protocol);
}

}  // namespace warden::policy
