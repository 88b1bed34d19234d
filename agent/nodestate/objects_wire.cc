#include "agent/nodestate/objects_wire.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace warden::nodestate {

namespace {

using policy::Cidr;
using policy::Family;
using policy::IpAddress;
// The overloads of this file's public part (declared in the header), beside the ones below.
using nodestate::FromWire;
using nodestate::ToWire;

absl::Status Bad(const std::string& m) { return absl::InvalidArgumentError(m); }

// The wire's selector operators are the model's, one up (0 is "unspecified").
static_assert(static_cast<int>(policy::SelectorOp::kIn) + 1 == v1::SELECTOR_IN &&
              static_cast<int>(policy::SelectorOp::kNotIn) + 1 == v1::SELECTOR_NOT_IN &&
              static_cast<int>(policy::SelectorOp::kExists) + 1 == v1::SELECTOR_EXISTS &&
              static_cast<int>(policy::SelectorOp::kDoesNotExist) + 1 ==
                  v1::SELECTOR_DOES_NOT_EXIST);

absl::StatusOr<policy::Protocol> ProtocolFrom(uint32_t number, const std::string& field) {
  std::optional<policy::Protocol> p = policy::ProtocolOfIpNumber(number);
  if (!p) return Bad(absl::StrCat(field, ": ", number, " is not TCP, UDP or SCTP"));
  return *p;
}

absl::Status CheckPort(uint32_t port, const std::string& field) {
  if (port < 1 || port > 65535) return Bad(absl::StrCat(field, ": ", port, " is not a port"));
  return absl::OkStatus();
}

// ---- label selectors ----------------------------------------------------------------------------

void ToWire(const policy::LabelSelector& s, v1::LabelSelector* w) {
  for (const auto& [k, v] : s.match_labels) (*w->mutable_match_labels())[k] = v;
  for (const auto& r : s.match_expressions) {
    auto* e = w->add_match_expressions();
    e->set_key(r.key);
    e->set_operator_(static_cast<v1::SelectorOperator>(static_cast<int>(r.op) + 1));
    for (const auto& v : r.values) e->add_values(v);
  }
}

absl::StatusOr<policy::LabelSelector> FromWire(const v1::LabelSelector& w,
                                               const std::string& field) {
  policy::LabelSelector s;
  for (const auto& [k, v] : w.match_labels()) s.match_labels[k] = v;
  for (int i = 0; i < w.match_expressions_size(); ++i) {
    const auto& e = w.match_expressions(i);
    const std::string f = absl::StrCat(field, ".match_expressions[", i, "]");
    if (e.key().empty()) return Bad(f + ".key: required");
    if (e.operator_() < v1::SELECTOR_IN || e.operator_() > v1::SELECTOR_DOES_NOT_EXIST)
      return Bad(absl::StrCat(f, ".operator: unknown value ", e.operator_()));
    policy::SelectorRequirement r{e.key(),
                                  static_cast<policy::SelectorOp>(e.operator_() - 1),
                                  {e.values().begin(), e.values().end()}};
    const bool set_op = r.op == policy::SelectorOp::kIn || r.op == policy::SelectorOp::kNotIn;
    if (set_op == r.values.empty())
      return Bad(f + ".values: In and NotIn need values, Exists and DoesNotExist take none");
    s.match_expressions.push_back(std::move(r));
  }
  return s;
}

// ---- rules --------------------------------------------------------------------------------------

void ToWire(const policy::PolicyPort& p, v1::NetworkPolicyPort* w) {
  w->set_protocol(policy::IpProtocolNumber(p.protocol));
  if (const int* n = std::get_if<int>(&p.port)) w->set_number(static_cast<uint32_t>(*n));
  if (const auto* name = std::get_if<std::string>(&p.port)) w->set_name(*name);
  if (p.end_port) w->set_end_port(static_cast<uint32_t>(*p.end_port));
}

absl::StatusOr<policy::PolicyPort> FromWire(const v1::NetworkPolicyPort& w,
                                            const std::string& field) {
  policy::PolicyPort p;
  WD_ASSIGN_OR_RETURN(p.protocol, ProtocolFrom(w.protocol(), field + ".protocol"));
  if (w.has_number()) {
    WD_RETURN_IF_ERROR(CheckPort(w.number(), field + ".number"));
    p.port = static_cast<int>(w.number());
  } else if (w.has_name()) {
    if (w.name().empty()) return Bad(field + ".name: empty");
    p.port = w.name();
  }
  if (w.end_port() != 0) {
    if (!w.has_number() || w.end_port() < w.number() || w.end_port() > 65535)
      return Bad(absl::StrCat(field, ".end_port: ", w.end_port(), " does not end a port range"));
    p.end_port = static_cast<int>(w.end_port());
  }
  return p;
}

void ToWire(const policy::PolicyPeer& p, v1::NetworkPolicyPeer* w) {
  if (p.pod_selector) ToWire(*p.pod_selector, w->mutable_pod_selector());
  if (p.namespace_selector) ToWire(*p.namespace_selector, w->mutable_namespace_selector());
  if (p.ip_block) {
    ToWire(p.ip_block->cidr, w->mutable_ip_block()->mutable_cidr());
    for (const auto& e : p.ip_block->except) ToWire(e, w->mutable_ip_block()->add_except());
  }
}

absl::StatusOr<policy::PolicyPeer> FromWire(const v1::NetworkPolicyPeer& w,
                                            const std::string& field) {
  policy::PolicyPeer p;
  if (w.has_pod_selector()) {
    WD_ASSIGN_OR_RETURN(p.pod_selector, FromWire(w.pod_selector(), field + ".pod_selector"));
  }
  if (w.has_namespace_selector()) {
    WD_ASSIGN_OR_RETURN(p.namespace_selector,
                        FromWire(w.namespace_selector(), field + ".namespace_selector"));
  }
  if (w.has_ip_block()) {
    if (p.pod_selector || p.namespace_selector)
      return Bad(field + ": ip_block may not be combined with a selector");
    policy::IpBlock b;
    WD_ASSIGN_OR_RETURN(b.cidr, FromWire(w.ip_block().cidr(), field + ".ip_block.cidr"));
    for (int i = 0; i < w.ip_block().except_size(); ++i) {
      WD_ASSIGN_OR_RETURN(Cidr e, FromWire(w.ip_block().except(i),
                                           absl::StrCat(field, ".ip_block.except[", i, "]")));
      b.except.push_back(e);
    }
    p.ip_block = std::move(b);
  } else if (!p.pod_selector && !p.namespace_selector) {
    return Bad(field + ": a peer needs a selector or an ip_block");
  }
  return p;
}

void ToWire(const policy::PolicyRule& r, v1::NetworkPolicyRule* w) {
  for (const auto& p : r.peers) ToWire(p, w->add_peers());
  for (const auto& p : r.ports) ToWire(p, w->add_ports());
}

absl::StatusOr<policy::PolicyRule> FromWire(const v1::NetworkPolicyRule& w,
                                            const std::string& field) {
  policy::PolicyRule r;
  for (int i = 0; i < w.peers_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::PolicyPeer p,
                        FromWire(w.peers(i), absl::StrCat(field, ".peers[", i, "]")));
    r.peers.push_back(std::move(p));
  }
  for (int i = 0; i < w.ports_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::PolicyPort p,
                        FromWire(w.ports(i), absl::StrCat(field, ".ports[", i, "]")));
    r.ports.push_back(std::move(p));
  }
  return r;
}

absl::Status RulesFromWire(const google::protobuf::RepeatedPtrField<v1::NetworkPolicyRule>& w,
                           const std::string& field, std::vector<policy::PolicyRule>* out) {
  for (int i = 0; i < w.size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::PolicyRule r, FromWire(w.Get(i), absl::StrCat(field, "[", i, "]")));
    out->push_back(std::move(r));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- prefixes -----------------------------------------------------------------------------------

void ToWire(const Cidr& c, v1::Prefix* p) {
  p->set_address(std::string(reinterpret_cast<const char*>(c.addr.bytes.data()),
                             c.addr.family == Family::kV4 ? 4 : 16));
  p->set_length(c.prefix_len);
}

absl::StatusOr<Cidr> FromWire(const v1::Prefix& p, const std::string& field) {
  const std::string& b = p.address();
  if (b.size() != 4 && b.size() != 16) {
    return Bad(absl::StrCat(field, ".address: an address has 4 or 16 bytes, not ", b.size()));
  }
  IpAddress a;
  a.family = b.size() == 4 ? Family::kV4 : Family::kV6;
  std::memcpy(a.bytes.data(), b.data(), b.size());
  if (static_cast<int>(p.length()) > a.bits())
    return Bad(absl::StrCat(field, ".length: ", p.length(), " is longer than the address"));
  WD_ASSIGN_OR_RETURN(Cidr c, policy::ParseCidr(absl::StrCat(a.ToString(), "/", p.length())));
  if (c.addr != a) return Bad(absl::StrCat(field, ": host bits set"));
  return c;
}

// ---- objects ------------------------------------------------------------------------------------

void ToWire(const policy::Namespace& ns, v1::Namespace* w) {
  w->set_name(ns.name);
  for (const auto& [k, v] : ns.labels) (*w->mutable_labels())[k] = v;
}

absl::StatusOr<policy::Namespace> FromWire(const v1::Namespace& w, const std::string& field) {
  if (w.name().empty()) return Bad(field + ".name: required");
  policy::Namespace ns;
  ns.name = w.name();
  for (const auto& [k, v] : w.labels()) ns.labels[k] = v;
  return ns;
}

void ToWire(const policy::NetworkPolicy& np, v1::NetworkPolicy* w) {
  w->set_namespace_(np.ns);
  w->set_name(np.name);
  ToWire(np.pod_selector, w->mutable_pod_selector());
  w->set_affects_ingress(np.affects_ingress);
  w->set_affects_egress(np.affects_egress);
  for (const auto& r : np.ingress) ToWire(r, w->add_ingress());
  for (const auto& r : np.egress) ToWire(r, w->add_egress());
}

absl::StatusOr<policy::NetworkPolicy> FromWire(const v1::NetworkPolicy& w,
                                               const std::string& field) {
  if (w.namespace_().empty() || w.name().empty())
    return Bad(field + ": namespace and name are required");
  policy::NetworkPolicy np;
  np.ns = w.namespace_();
  np.name = w.name();
  WD_ASSIGN_OR_RETURN(np.pod_selector, FromWire(w.pod_selector(), field + ".pod_selector"));
  np.affects_ingress = w.affects_ingress();
  np.affects_egress = w.affects_egress();
  WD_RETURN_IF_ERROR(RulesFromWire(w.ingress(), field + ".ingress", &np.ingress));
  WD_RETURN_IF_ERROR(RulesFromWire(w.egress(), field + ".egress", &np.egress));
  return np;
}

void ToWire(const policy::NamedPort& p, v1::NamedPort* w) {
  w->set_name(p.name);
  w->set_protocol(policy::IpProtocolNumber(p.protocol));
  w->set_port(static_cast<uint32_t>(p.port));
}

absl::StatusOr<policy::NamedPort> FromWire(const v1::NamedPort& w, const std::string& field) {
  if (w.name().empty()) return Bad(field + ".name: required");
  WD_RETURN_IF_ERROR(CheckPort(w.port(), field + ".port"));
  WD_ASSIGN_OR_RETURN(policy::Protocol proto, ProtocolFrom(w.protocol(), field + ".protocol"));
  return policy::NamedPort{w.name(), proto, static_cast<int>(w.port())};
}

}  // namespace warden::nodestate
