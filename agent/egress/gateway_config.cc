#include "agent/egress/gateway_config.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace warden::egress {

using policy::AuthorizationPolicy;
using policy::AuthzAction;

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAllow:
      return "allow";
    case Verdict::kDeny:
      return "deny";
    case Verdict::kUnregistered:
      return "unregistered";
    case Verdict::kBadRequest:
      break;
  }
  return "bad_request";
}

namespace {

// The exact hosts a policy can match an HTTP request for, or nullopt when some rule could match
// any host (no `to`, an operation without hosts, a wildcard, or notHosts).
std::optional<std::vector<std::string>> ExactHosts(const AuthorizationPolicy& p) {
  std::vector<std::string> hosts;
  for (const auto& rule : p.rules) {
    if (rule.to.empty()) return std::nullopt;
    for (const auto& op : rule.to) {
      if (op.hosts.empty() || !op.not_hosts.empty()) return std::nullopt;
      for (const auto& h : op.hosts) {
        if (h.find('*') != std::string::npos) return std::nullopt;
        hosts.push_back(absl::AsciiStrToLower(h));
      }
    }
  }
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  return hosts;
}

// The exact source namespaces a policy's rules all require, or nullopt when some rule could
// match a source of any namespace (no `from`, a source without namespaces, or a wildcard).
std::optional<std::vector<std::string>> ExactNamespaces(const AuthorizationPolicy& p) {
  std::vector<std::string> nss;
  for (const auto& rule : p.rules) {
    if (rule.from.empty()) return std::nullopt;
    for (const auto& src : rule.from) {
      if (src.namespaces.empty()) return std::nullopt;
      for (const auto& ns : src.namespaces) {
        if (ns.find('*') != std::string::npos) return std::nullopt;
        nss.push_back(ns);
      }
    }
  }
  std::sort(nss.begin(), nss.end());
  nss.erase(std::unique(nss.begin(), nss.end()), nss.end());
  return nss;
}

}  // namespace

std::vector<const policy::Pod*> GatewayPods(const policy::ClusterState& state,
                                            const std::string& gateway_namespace) {
  std::vector<const policy::Pod*> on_gateway_nodes, elsewhere;
  const std::string prefix = gateway_namespace + "/";
  const auto& pods = state.pods.get();
  for (auto it = pods.lower_bound(prefix); it != pods.end() && it->first.starts_with(prefix);
       ++it) {
    const policy::Pod& p = it->second;
    if (p.host_network) continue;
    auto node = state.nodes.find(p.node_name);
    bool gateway_node = node != state.nodes.end() && policy::IsGatewayPool(node->second);
    (gateway_node ? on_gateway_nodes : elsewhere).push_back(&p);
  }
  on_gateway_nodes.insert(on_gateway_nodes.end(), elsewhere.begin(), elsewhere.end());
  return on_gateway_nodes;
}

const policy::Pod* FindGatewayPod(const policy::ClusterState& state,
                                  const std::string& gateway_namespace) {
  std::vector<const policy::Pod*> pods = GatewayPods(state, gateway_namespace);
  return pods.empty() ? nullptr : pods.front();
}

GatewayConfig::GatewayConfig(const policy::ClusterState& state, GatewayOptions o)
    : o_(std::move(o)),
      registry_(state.service_entries, state.destination_rules, RegistryOptions{o_.root_namespace}),
      state_(state) {
  for (const auto& [key, p] : state.authorization_policies.get()) {
    if (Applies(p)) policies_.push_back(&p);
  }
  namespaces_.resize(policies_.size());
  for (size_t i = 0; i < policies_.size(); ++i) {
    // A policy without rules matches nothing: it is indexed under no key at all.
    std::optional<std::vector<std::string>> nss = ExactNamespaces(*policies_[i]);
    if (nss) namespaces_[i] = *nss;
    if (auto hosts = ExactHosts(*policies_[i])) {
      for (const auto& h : *hosts) by_host_[h].push_back(i);
      if (!hosts->empty()) host_indexed_.push_back(i);
    } else if (nss) {
      for (const auto& ns : *nss) by_namespace_[ns].push_back(i);
    } else {
      unindexed_.push_back(i);
    }
  }
  scope_ = ScopeOf(policies_);
}

bool GatewayConfig::Applies(const AuthorizationPolicy& p) const {
  if (p.ns != o_.root_namespace && p.ns != o_.gateway_namespace) return false;
  if (!p.target_refs.empty()) {
    // A Gateway in the policy's own namespace: the gateway's, when it is ours.
    if (p.ns != o_.gateway_namespace) return false;
    for (const auto& ref : p.target_refs) {
      if (ref.kind == "Gateway" && ref.group == "gateway.networking.k8s.io" &&
          ref.name == o_.gateway_name)
        return true;
    }
    return false;
  }
  if (!p.selector) return true;
  for (const auto& [k, v] : p.selector->match_labels) {
    auto it = o_.gateway_labels.find(k);
    if (it == o_.gateway_labels.end() || it->second != v) return false;
  }
  return true;
}

std::vector<const AuthorizationPolicy*> GatewayConfig::Candidates(const Request& req) const {
  const std::string* ns = req.source ? &req.source->ns : nullptr;
  auto from_here = [&](size_t i) {  // the policy can match a source of this namespace
    const auto& nss = namespaces_[i];
    return nss.empty() || (ns && std::binary_search(nss.begin(), nss.end(), *ns));
  };
  std::vector<size_t> idx;
  idx.reserve(unindexed_.size() + 8);
  idx = unindexed_;
  if (ns) {
    if (auto it = by_namespace_.find(*ns); it != by_namespace_.end())
      idx.insert(idx.end(), it->second.begin(), it->second.end());
  }
  if (req.http) {
    const bool lower = std::none_of(req.authority.begin(), req.authority.end(),
                                    [](char c) { return absl::ascii_isupper(c); });
    auto it =
        lower ? by_host_.find(req.authority) : by_host_.find(absl::AsciiStrToLower(req.authority));
    if (it != by_host_.end()) {
      for (size_t i : it->second) {
        if (from_here(i)) idx.push_back(i);
      }
    }
  } else {
    // Not HTTP: a DENY rule's host condition is dropped, so a host names nothing here.
    for (size_t i : host_indexed_) {
      if (from_here(i)) idx.push_back(i);
    }
  }
  std::sort(idx.begin(), idx.end());  // the policies' own order, for a stable decided_by
  idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
  std::vector<const AuthorizationPolicy*> out;
  out.reserve(idx.size());
  for (size_t i : idx) out.push_back(policies_[i]);
  return out;
}

absl::StatusOr<SourceIdentity> GatewayConfig::PodOnNode(const std::string& node,
                                                        const std::string& pod) const {
  const policy::Pod* p = state_.FindPod(pod);
  if (!p) return absl::NotFoundError(absl::StrCat("no pod ", pod));
  if (p->node_name != node)
    return absl::PermissionDeniedError(absl::StrCat("pod ", pod, " runs on ",
                                                    p->node_name.empty() ? "no node" : p->node_name,
                                                    ", not on ", node));
  if (p->host_network)
    return absl::PermissionDeniedError(
        absl::StrCat("pod ", pod, " uses the host network: its traffic is the node's"));
  return SourceIdentity{p->ns, p->service_account, p->Key()};
}

GatewayOptions WithGatewayPodLabels(const policy::ClusterState& state, GatewayOptions o) {
  if (const policy::Pod* p = FindGatewayPod(state, o.gateway_namespace))
    o.gateway_labels = p->labels;
  return o;
}

GatewayVerdict GatewayConfig::Decide(const Request& req) const {
  GatewayVerdict v;
  const std::string ns = req.source ? req.source->ns : "";
  if (req.http) {
    std::optional<Authority> a = ParseAuthority(req.authority);
    if (!a) {
      v.verdict = Verdict::kBadRequest;
      v.status = 400;
      v.reason = absl::StrCat("Host \"", req.authority, "\" is not a host[:port]");
      return v;
    }
    // Envoy's routes name a registered host alone or with the connection's port.
    if (a->port == 0 || a->port == req.port)
      v.registration = registry_.Lookup(ns, a->host, req.port, Registry::Want::kHttp);
  } else if (!req.sni.empty()) {
    v.registration =
        registry_.Lookup(ns, absl::AsciiStrToLower(req.sni), req.port, Registry::Want::kTls);
  } else if (req.destination_ip) {
    v.registration = registry_.LookupAddress(ns, *req.destination_ip, req.port);
  }
  if (!v.registration) {
    v.verdict = Verdict::kUnregistered;
    v.status = req.http ? 502 : 0;
    const std::string what = req.http          ? "host " + req.authority
                             : req.sni.empty() ? std::string("a connection without SNI")
                                               : "server name " + req.sni;
    v.reason = absl::StrCat(what, " on port ", req.port,
                            " is registered by no ServiceEntry visible to namespace ",
                            ns.empty() ? "(no attested identity)" : ns);
    return v;
  }
  v.upstream = registry_.UpstreamFor(ns, *v.registration);
  v.authz = Authorize(Candidates(req), req, o_.authz, scope_);
  v.verdict = v.authz.allowed ? Verdict::kAllow : Verdict::kDeny;
  v.status = v.authz.allowed ? (req.http ? 200 : 0) : (req.http ? 403 : 0);
  v.reason = v.authz.reason;
  return v;
}

}  // namespace warden::egress
