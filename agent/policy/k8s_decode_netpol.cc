#include "agent/policy/k8s_decode_netpol.h"

#include <utility>
#include <variant>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/k8s_decode_fields.h"
#include "agent/policy/k8s_names.h"

namespace warden::policy {
namespace {

// ---- label selectors ------------------------------------------------------------------------

std::optional<SelectorOp> ReadOperator(ManifestReader* r, const YAML::Node& e,
                                       const std::string& f) {
  static const std::pair<const char*, SelectorOp> kOps[] = {
      {"In", SelectorOp::kIn},
      {"NotIn", SelectorOp::kNotIn},
      {"Exists", SelectorOp::kExists},
      {"DoesNotExist", SelectorOp::kDoesNotExist}};
  std::string op;
  r->ReadString(e, "operator", f + ".operator", &op);
  for (const auto& [name, value] : kOps) {
    if (op == name) return value;
  }
  r->Fail(e["operator"] ? e["operator"] : e, f + ".operator",
          op.empty() ? "Required value"
                     : InvalidValue(op,
                                    "not a valid selector operator (In, NotIn, Exists, "
                                    "DoesNotExist)"));
  return std::nullopt;
}

// `values` of a requirement: strings, present exactly when the operator needs them.
void ReadRequirementValues(ManifestReader* r, const YAML::Node& e, const std::string& f,
                           SelectorRequirement* req) {
  const YAML::Node vals = e["values"];
  std::string vf = f + ".values";
  if (r->OptionalList(vals, vf)) {
    for (size_t j = 0; j < vals.size(); ++j) {
      std::string item = IndexField(vf, j);
      if (!vals[j].IsScalar() || IsTypedPlainScalar(vals[j])) {
        r->Fail(vals[j], item, "must be a string (quote it)");
        continue;
      }
      CheckName(r, vals[j], item, vals[j].Scalar(), CheckLabelValue);
      req->values.push_back(vals[j].Scalar());
    }
  }
  bool needs_values = req->op == SelectorOp::kIn || req->op == SelectorOp::kNotIn;
  if (needs_values && req->values.empty()) {
    r->Fail(e, vf, "Required value: must be specified when `operator` is 'In' or 'NotIn'");
  }
  if (!needs_values && !req->values.empty()) {
    r->Fail(vals, vf,
            "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
  }
}

// One matchExpressions entry; nullopt when it is not a mapping or has no valid operator.
std::optional<SelectorRequirement> ReadRequirement(ManifestReader* r, const YAML::Node& e,
                                                   const std::string& f) {
  if (!r->IsMapOrReport(e, f)) return std::nullopt;
  r->CheckKnownKeys(e, f, {"key", "operator", "values"});
  SelectorRequirement req;
  if (!r->ReadString(e, "key", f + ".key", &req.key) || req.key.empty()) {
    r->Fail(e, f + ".key", "Required value");
  } else {
    CheckName(r, e["key"], f + ".key", req.key, CheckQualifiedName);
  }
  auto op = ReadOperator(r, e, f);
  if (!op) return std::nullopt;
  req.op = *op;
  ReadRequirementValues(r, e, f, &req);
  return req;
}

std::optional<LabelSelector> ReadSelector(ManifestReader* r, const YAML::Node& parent,
                                          const char* key, const std::string& field) {
  const YAML::Node n = parent[key];
  if (!r->OptionalMap(n, field)) return std::nullopt;
  r->CheckKnownKeys(n, field, {"matchLabels", "matchExpressions"});
  LabelSelector sel;
  sel.match_labels = ReadLabels(r, n, "matchLabels", field + ".matchLabels");
  const YAML::Node exprs = n["matchExpressions"];
  std::string ef = field + ".matchExpressions";
  if (!r->OptionalList(exprs, ef)) return sel;
  for (size_t i = 0; i < exprs.size(); ++i) {
    if (auto req = ReadRequirement(r, exprs[i], IndexField(ef, i)))
      sel.match_expressions.push_back(std::move(*req));
  }
  return sel;
}

// ---- ports ----------------------------------------------------------------------------------

using PortValue = decltype(PolicyPort::port);

// `port`: a number in 1-65535 or a port name; none (reported) when neither.
PortValue ReadPortValue(ManifestReader* r, const YAML::Node& pn, const std::string& f) {
  if (!pn.IsScalar()) {
    r->Fail(pn, f, "must be an integer or a port name");
    return {};
  }
  if (int64_t v = 0; pn.Tag() != "!" && absl::SimpleAtoi(pn.Scalar(), &v)) {
    if (v >= 1 && v <= 65535) return static_cast<int>(v);
    r->Fail(pn, f, PortOutOfRange(v));
    return {};
  }
  if (!CheckName(r, pn, f, pn.Scalar(), CheckPortName)) return {};
  return pn.Scalar();
}

// `endPort`: only after a numeric `port`, and not below it.
void ReadEndPort(ManifestReader* r, const YAML::Node& en, bool port_given, const std::string& f,
                 PolicyPort* port) {
  auto e = r->ScalarInt(en, f);
  if (!e) return;
  if (std::holds_alternative<std::string>(port->port)) {
    r->Fail(en, f, "Invalid value: may not be specified when `port` is non-numeric");
  } else if (std::holds_alternative<std::monostate>(port->port)) {
    if (!port_given)
      r->Fail(en, f, "Required value: may not be specified when `port` is not specified");
  } else if (*e < std::get<int>(port->port)) {
    r->Fail(en, f,
            absl::StrCat("Invalid value: ", *e, ": must be greater than or equal to `port`"));
  } else if (*e > 65535) {
    r->Fail(en, f, PortOutOfRange(*e));
  } else {
    port->end_port = static_cast<int>(*e);
  }
}

std::optional<PolicyPort> ReadPort(ManifestReader* r, const YAML::Node& n,
                                   const std::string& field) {
  PolicyPort port;
  if (n.IsNull()) return port;  // all ports of TCP
  if (!r->IsMapOrReport(n, field)) return std::nullopt;
  r->CheckKnownKeys(n, field, {"protocol", "port", "endPort"});
  int before = r->error_count();
  if (auto p = ReadProtocol(r, n, field + ".protocol")) port.protocol = *p;
  const YAML::Node pn = n["port"];
  if (Present(pn)) port.port = ReadPortValue(r, pn, field + ".port");
  const YAML::Node en = n["endPort"];
  if (Present(en)) ReadEndPort(r, en, Present(pn), field + ".endPort", &port);
  if (r->error_count() != before) return std::nullopt;
  return port;
}

// ---- peers ----------------------------------------------------------------------------------

// One `except` entry: a CIDR strictly inside `within` (when the block's cidr is valid).
std::optional<Cidr> ReadExcept(ManifestReader* r, const YAML::Node& ex, const std::string& f,
                               const Cidr* within, const std::string& within_text) {
  if (!ex.IsScalar()) {
    r->Fail(ex, f, "must be a string");
    return std::nullopt;
  }
  auto c = ValueOrReport(r, ParseCidr(ex.Scalar()), ex, f);
  if (!c) return std::nullopt;
  // As the API server: each except must be a strict subset of cidr.
  if (within && (!within->Covers(*c) || c->prefix_len <= within->prefix_len)) {
    r->Fail(ex, f,
            InvalidValue(ex.Scalar(),
                         absl::StrCat("must be a strict subset of `cidr` (", within_text, ")")));
    return std::nullopt;
  }
  return c;
}

IpBlock ReadIpBlock(ManifestReader* r, const YAML::Node& ib, const std::string& bf) {
  r->CheckKnownKeys(ib, bf, {"cidr", "except"});
  IpBlock block;
  std::string cidr;
  bool cidr_ok = false;
  if (!r->ReadString(ib, "cidr", bf + ".cidr", &cidr) || cidr.empty()) {
    r->Fail(ib, bf + ".cidr", "Required value");
  } else if (auto c = ValueOrReport(r, ParseCidr(cidr), ib["cidr"], bf + ".cidr")) {
    block.cidr = *c;
    cidr_ok = true;
  }
  const YAML::Node ex = ib["except"];
  if (!r->OptionalList(ex, bf + ".except")) return block;
  for (size_t i = 0; i < ex.size(); ++i) {
    if (auto c = ReadExcept(r, ex[i], IndexField(bf + ".except", i),
                            cidr_ok ? &block.cidr : nullptr, cidr))
      block.except.push_back(*c);
  }
  return block;
}

std::optional<PolicyPeer> ReadPeer(ManifestReader* r, const YAML::Node& n,
                                   const std::string& field) {
  if (n.IsNull() || (n.IsMap() && n.size() == 0)) {
    r->Fail(n, field, "Required value: must specify a peer");
    return std::nullopt;
  }
  if (!r->IsMapOrReport(n, field)) return std::nullopt;
  r->CheckKnownKeys(n, field, {"podSelector", "namespaceSelector", "ipBlock"});
  int before = r->error_count();
  PolicyPeer peer;
  peer.pod_selector = ReadSelector(r, n, "podSelector", field + ".podSelector");
  peer.namespace_selector = ReadSelector(r, n, "namespaceSelector", field + ".namespaceSelector");
  const YAML::Node ib = n["ipBlock"];
  if (r->OptionalMap(ib, field + ".ipBlock")) {
    peer.ip_block = ReadIpBlock(r, ib, field + ".ipBlock");
    if (peer.pod_selector || peer.namespace_selector) {
      r->Fail(n, field,
              "Forbidden: may not specify more than 1 peer type (ipBlock with podSelector or "
              "namespaceSelector)");
    }
  }
  if (!peer.pod_selector && !peer.namespace_selector && !peer.ip_block &&
      r->error_count() == before) {
    r->Fail(n, field, "Required value: must specify a peer");
  }
  if (r->error_count() != before) return std::nullopt;
  return peer;
}

// ---- rules ----------------------------------------------------------------------------------

// An ingress (peers_key "from") or egress ("to") rule.
PolicyRule ReadRule(ManifestReader* r, const YAML::Node& n, const std::string& field,
                    const char* peers_key) {
  PolicyRule rule;
  if (n.IsNull()) return rule;  // `- {}` and `-` (null) both mean an empty rule
  if (!r->IsMapOrReport(n, field)) return rule;
  r->CheckKnownKeys(n, field, {peers_key, "ports"});
  const YAML::Node ports = n["ports"];
  if (r->OptionalList(ports, field + ".ports")) {
    for (size_t i = 0; i < ports.size(); ++i) {
      if (auto p = ReadPort(r, ports[i], IndexField(field + ".ports", i))) rule.ports.push_back(*p);
    }
  }
  const YAML::Node peers = n[peers_key];
  std::string pf = absl::StrCat(field, ".", peers_key);
  if (r->OptionalList(peers, pf)) {
    for (size_t i = 0; i < peers.size(); ++i) {
      if (auto p = ReadPeer(r, peers[i], IndexField(pf, i))) rule.peers.push_back(*p);
    }
  }
  return rule;
}

std::vector<PolicyRule> ReadRules(ManifestReader* r, const YAML::Node& list,
                                  const std::string& field, const char* peers_key) {
  std::vector<PolicyRule> rules;
  if (!r->OptionalList(list, field)) return rules;
  for (size_t i = 0; i < list.size(); ++i)
    rules.push_back(ReadRule(r, list[i], IndexField(field, i), peers_key));
  return rules;
}

// policyTypes, defaulted as the API server does when absent or empty: Ingress always, Egress
// only when egress rules exist (an empty `egress: []` does not count).
void ReadPolicyTypes(ManifestReader* r, const YAML::Node& spec, const std::string& sf,
                     NetworkPolicy* np) {
  const YAML::Node types = spec["policyTypes"];
  std::string tf = sf + ".policyTypes";
  if (!r->OptionalList(types, tf) || types.size() == 0) {
    np->affects_ingress = true;
    np->affects_egress = !np->egress.empty();
    return;
  }
  if (types.size() > 2)
    r->Fail(types, tf, absl::StrCat("Too many: ", types.size(), ": must have at most 2 items"));
  for (size_t i = 0; i < types.size(); ++i) {
    std::string t = types[i].IsScalar() ? types[i].Scalar() : "";
    if (t == "Ingress") {
      np->affects_ingress = true;
    } else if (t == "Egress") {
      np->affects_egress = true;
    } else {
      r->Fail(types[i], IndexField(tf, i),
              absl::StrCat("Unsupported value: ", Quote(t),
                           ": supported values: \"Ingress\", \"Egress\""));
    }
  }
}

// spec: the selected pods, the rules, and policyTypes.
void ReadPolicySpec(ManifestReader* r, const YAML::Node& doc, NetworkPolicy* np) {
  const YAML::Node spec = doc["spec"];
  std::string sf = r->Field("spec");
  if (!Present(spec)) {
    r->Fail(doc, sf, "Required value: spec is required");
    return;
  }
  if (!r->IsMapOrReport(spec, sf)) return;
  r->CheckKnownKeys(spec, sf, {"podSelector", "policyTypes", "ingress", "egress"});
  if (auto sel = ReadSelector(r, spec, "podSelector", sf + ".podSelector")) np->pod_selector = *sel;
  np->ingress = ReadRules(r, spec["ingress"], sf + ".ingress", "from");
  np->egress = ReadRules(r, spec["egress"], sf + ".egress", "to");
  ReadPolicyTypes(r, spec, sf, np);
}

}  // namespace

std::optional<NetworkPolicy> DecodeNetworkPolicy(ManifestReader* r, const YAML::Node& doc) {
  auto fill = [&](const ObjectMeta& m, NetworkPolicy* np) {
    np->ns = m.ns;
    np->name = m.name;
    ReadPolicySpec(r, doc, np);
  };
  return DecodeObject<NetworkPolicy>(r, doc, "NetworkPolicy", true, fill);
}

}  // namespace warden::policy
