#include "agent/nodestate/gateway_state.h"

#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/egress_wire.h"

namespace warden::nodestate {
namespace {

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// Each object of a kind into `out` by "ns/name"; a key twice is an error.
template <typename Wire, typename T>
absl::Status Objects(const google::protobuf::RepeatedPtrField<Wire>& list, const std::string& field,
                     std::map<std::string, T>* out) {
  for (int i = 0; i < list.size(); ++i) {
    const std::string f = absl::StrCat(field, "[", i, "]");
    WD_ASSIGN_OR_RETURN(T x, FromWire(list.Get(i), f));
    const std::string key = x.Key();
    if (!out->emplace(key, std::move(x)).second) return Bad(f, key + " appears twice");
  }
  return absl::OkStatus();
}

}  // namespace

GatewayState GatewayStateOf(const policy::ClusterState& state, const GatewayScope& scope,
                            const GatewayState* pods_from) {
  GatewayState s;
  s.objects.service_entries = state.service_entries;  // shared, not copied
  s.objects.destination_rules = state.destination_rules;
  std::map<std::string, policy::AuthorizationPolicy> aps;
  for (const auto& [k, ap] : state.authorization_policies.get()) {
    if (ap.ns == scope.gateway_namespace || ap.ns == scope.root_namespace) aps.emplace(k, ap);
  }
  s.objects.authorization_policies = std::move(aps);
  if (pods_from) {
    s.objects.pods = pods_from->objects.pods;
    return s;
  }
  std::map<std::string, policy::Pod> pods;
  for (const auto& [k, p] : state.pods.get()) {
    policy::Pod q;
    q.ns = p.ns;
    q.name = p.name;
    q.service_account = p.service_account;
    q.node_name = p.node_name;
    q.ips = p.ips;
    q.host_network = p.host_network;
    if (p.ns == scope.gateway_namespace) q.labels = p.labels;
    pods.emplace(k, std::move(q));
  }
  s.objects.pods = std::move(pods);
  return s;
}

void GatewayUpdateOf(const GatewayState& s, v1::GatewayUpdate* u) {
  u->set_version(s.version);
  for (const auto& [_, se] : s.objects.service_entries.get()) ToWire(se, u->add_service_entries());
  for (const auto& [_, dr] : s.objects.destination_rules.get())
    ToWire(dr, u->add_destination_rules());
  for (const auto& [_, ap] : s.objects.authorization_policies.get())
    ToWire(ap, u->add_authorization_policies());
  for (const auto& [_, p] : s.objects.pods.get()) {
    auto* w = u->add_pods();
    w->set_namespace_(p.ns);
    w->set_name(p.name);
    w->set_service_account(p.service_account);
    w->set_node(p.node_name);
    for (const auto& ip : p.ips)
      w->add_ips(std::string(reinterpret_cast<const char*>(ip.bytes.data()),
                             ip.family == policy::Family::kV4 ? 4 : 16));
    w->set_host_network(p.host_network);
    for (const auto& [k, v] : p.labels) (*w->mutable_labels())[k] = v;
  }
}

absl::StatusOr<GatewayState> ApplyGatewayUpdate(const v1::GatewayUpdate& u) {
  GatewayState s;
  s.version = u.version();
  if (s.version == 0) return Bad("version", "0 is no version");
  std::map<std::string, policy::ServiceEntry> ses;
  std::map<std::string, policy::DestinationRule> drs;
  std::map<std::string, policy::AuthorizationPolicy> aps;
  WD_RETURN_IF_ERROR(Objects(u.service_entries(), "service_entries", &ses));
  WD_RETURN_IF_ERROR(Objects(u.destination_rules(), "destination_rules", &drs));
  WD_RETURN_IF_ERROR(Objects(u.authorization_policies(), "authorization_policies", &aps));
  std::map<std::string, policy::Pod> pods;
  for (int i = 0; i < u.pods_size(); ++i) {
    const auto& w = u.pods(i);
    const std::string f = absl::StrCat("pods[", i, "]");
    if (w.namespace_().empty() || w.name().empty())
      return Bad(f, "a pod needs a namespace and a name");
    policy::Pod p;
    p.ns = w.namespace_();
    p.name = w.name();
    p.service_account = w.service_account().empty() ? "default" : w.service_account();
    p.node_name = w.node();
    p.host_network = w.host_network();
    for (int j = 0; j < w.ips_size(); ++j) {
      const std::string& b = w.ips(j);
      if (b.size() != 4 && b.size() != 16)
        return Bad(absl::StrCat(f, ".ips[", j, "]"),
                   absl::StrCat(b.size(), " bytes is no address"));
      policy::IpAddress ip;
      ip.family = b.size() == 4 ? policy::Family::kV4 : policy::Family::kV6;
      std::memcpy(ip.bytes.data(), b.data(), b.size());
      p.ips.push_back(ip);
    }
    p.labels = policy::Labels(w.labels().begin(), w.labels().end());
    const std::string key = p.Key();
    if (!pods.emplace(key, std::move(p)).second) return Bad(f, key + " appears twice");
  }
  s.objects.service_entries = std::move(ses);
  s.objects.destination_rules = std::move(drs);
  s.objects.authorization_policies = std::move(aps);
  s.objects.pods = std::move(pods);
  s.objects.Finalize();
  return s;
}

}  // namespace warden::nodestate
