#include "agent/policy/manifest_loader.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/k8s_names.h"
#include "yaml-cpp/yaml.h"

namespace warden::policy {

std::string ManifestError::ToString() const {
  std::string out = file;
  if (line > 0) absl::StrAppend(&out, ":", line);
  absl::StrAppend(&out, ": ");
  if (!object.empty()) absl::StrAppend(&out, object, ": ");
  if (!field.empty()) absl::StrAppend(&out, field, ": ");
  absl::StrAppend(&out, message);
  return out;
}

namespace {

using Staged = std::variant<Namespace, Node, Pod, NetworkPolicy>;

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

// A plain (unquoted) scalar that YAML reads as a number, boolean or null, which the API server
// refuses where a string is required (label values, selector values).
bool IsTypedPlainScalar(const YAML::Node& n) {
  if (!n.IsScalar() || n.Tag() == "!") return false;
  static const char* kWords[] = {"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes",
                                 "YES",  "no",   "No",   "NO",    "on",    "On",    "ON",  "off",
                                 "Off",  "OFF",  "null", "Null",  "NULL",  "~"};
  const std::string& v = n.Scalar();
  for (const char* w : kWords) {
    if (v == w) return true;
  }
  double d;
  return !v.empty() && absl::SimpleAtod(v, &d) &&
         v.find_first_not_of("0123456789+-.eE_xXoabcdefABCDEF") == std::string::npos;
}

// Decodes the documents of one file. Errors carry the file, the line of the offending node,
// the object ("Kind ns/name") and the field path.
class FileDecoder {
 public:
  FileDecoder(std::string file, std::vector<ManifestError>* errors, std::vector<std::string>* notes)
      : file_(std::move(file)), errors_(errors), notes_(notes) {}

  int error_count() const { return error_count_; }
  std::vector<Staged>& staged() { return staged_; }

  void DecodeDocument(const YAML::Node& doc, const std::string& path) {
    if (!doc || doc.IsNull()) return;
    object_.clear();
    object_line_ = Line(doc);
    if (!doc.IsMap()) {
      Fail(doc, path, "a manifest document must be a mapping with apiVersion and kind");
      return;
    }
    std::string api_version, kind;
    ReadString(doc, "apiVersion", Join(path, "apiVersion"), &api_version);
    if (!ReadString(doc, "kind", Join(path, "kind"), &kind) || kind.empty()) {
      Fail(doc, Join(path, "kind"), "Required value: kind is required");
      return;
    }
    if (kind == "List" || absl::EndsWith(kind, "List")) {
      const YAML::Node items = doc["items"];
      if (items && !items.IsNull() && !items.IsSequence()) {
        Fail(items, Join(path, "items"), "must be a list");
        return;
      }
      if (!items) return;
      for (size_t i = 0; i < items.size(); ++i) {
        DecodeDocument(items[i], absl::StrCat(Join(path, "items"), "[", i, "]"));
      }
      return;
    }
    path_prefix_ = path;
    if (kind == "Namespace" && api_version == "v1") {
      DecodeNamespace(doc);
    } else if (kind == "Node" && api_version == "v1") {
      DecodeNode(doc);
    } else if (kind == "Pod" && api_version == "v1") {
      DecodePod(doc);
    } else if (kind == "NetworkPolicy" && api_version == "networking.k8s.io/v1") {
      DecodeNetworkPolicy(doc);
    } else {
      notes_->push_back(absl::StrCat(file_, ":", Line(doc), ": ignoring ", api_version, " ", kind,
                                     " (not a kind Warden reads)"));
    }
  }

 private:
  // ---- error reporting -------------------------------------------------------------------
  int Line(const YAML::Node& n) const {
    if (n && n.Mark().line >= 0) return n.Mark().line + 1;
    return object_line_;
  }
  std::string Join(const std::string& base, const std::string& field) const {
    return base.empty() ? field : absl::StrCat(base, ".", field);
  }
  std::string Field(const std::string& f) const { return Join(path_prefix_, f); }
  void Fail(const YAML::Node& at, const std::string& field, const std::string& msg) {
    errors_->push_back(ManifestError{file_, Line(at), object_, field, msg});
    ++error_count_;
  }

  // ---- typed readers: return false (and report) on a type error --------------------------
  bool ReadString(const YAML::Node& parent, const char* key, const std::string& field,
                  std::string* out) {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return false;
    if (!n.IsScalar()) {
      Fail(n, field, "must be a string");
      return false;
    }
    *out = n.Scalar();
    return true;
  }

  std::optional<int64_t> ScalarInt(const YAML::Node& n, const std::string& field) {
    int64_t v = 0;
    if (!n.IsScalar() || n.Tag() == "!" || !absl::SimpleAtoi(n.Scalar(), &v)) {
      Fail(n, field,
           absl::StrCat("must be an integer", n.IsScalar() ? ", got " + Quote(n.Scalar()) : ""));
      return std::nullopt;
    }
    return v;
  }

  bool ReadBool(const YAML::Node& parent, const char* key, const std::string& field, bool* out) {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return false;
    if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) {
      Fail(n, field, "must be true or false");
      return false;
    }
    *out = n.Scalar() == "true";
    return true;
  }

  // Checks that a mapping has only the given keys (strict field validation, as kubectl's
  // default). Used where a misspelt key would silently change what is enforced.
  void CheckKnownKeys(const YAML::Node& n, const std::string& field,
                      std::initializer_list<const char*> known) {
    if (!n.IsMap()) return;
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      bool ok = std::any_of(known.begin(), known.end(), [&](const char* x) { return k == x; });
      if (!ok) {
        std::vector<std::string> names(known.begin(), known.end());
        Fail(
            kv.first, Join(field, k),
            absl::StrCat("unknown field ", Quote(k), " (known: ", absl::StrJoin(names, ", "), ")"));
      }
    }
  }

  // yaml-cpp keeps the first of two equal keys; the API server refuses such a document (strict
  // decoding). Report every key that appears twice in one mapping.
  void CheckDuplicateKeys(const YAML::Node& n, const std::string& field) {
    if (n.IsMap()) {
      std::set<std::string> seen;
      for (const auto& kv : n) {
        std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
        std::string f = Join(field, k);
        if (!seen.insert(k).second)
          Fail(kv.first, f,
               absl::StrCat("Duplicate value: key ", Quote(k), " is already set in this mapping"));
        CheckDuplicateKeys(kv.second, f);
      }
    } else if (n.IsSequence()) {
      for (size_t i = 0; i < n.size(); ++i)
        CheckDuplicateKeys(n[i], absl::StrCat(field, "[", i, "]"));
    }
  }

  bool IsMapOrReport(const YAML::Node& n, const std::string& field) {
    if (n.IsMap()) return true;
    Fail(n, field, "must be an object");
    return false;
  }
  bool IsSeqOrReport(const YAML::Node& n, const std::string& field) {
    if (n.IsSequence()) return true;
    Fail(n, field, "must be a list");
    return false;
  }

  Labels ReadLabels(const YAML::Node& parent, const char* key, const std::string& field) {
    Labels labels;
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return labels;
    if (!IsMapOrReport(n, field)) return labels;
    for (const auto& kv : n) {
      std::string k = kv.first.Scalar();
      std::string f = Join(field, k);
      if ((!kv.second.IsScalar() && !kv.second.IsNull()) || IsTypedPlainScalar(kv.second)) {
        Fail(kv.second, f, "Invalid value: label values must be strings (quote it)");
        continue;
      }
      std::string v = kv.second.IsNull() ? "" : kv.second.Scalar();
      if (std::string why = CheckQualifiedName(k); !why.empty()) {
        Fail(kv.first, f, absl::StrCat("Invalid value: ", Quote(k), ": ", why));
      }
      if (std::string why = CheckLabelValue(v); !why.empty()) {
        Fail(kv.second, f, absl::StrCat("Invalid value: ", Quote(v), ": ", why));
      }
      labels[k] = v;
    }
    return labels;
  }

  // metadata.name / metadata.namespace; sets object_ for error messages.
  struct Meta {
    std::string name, ns, uid;
    Labels labels;
  };
  Meta ReadMeta(const YAML::Node& doc, const std::string& kind, bool namespaced) {
    Meta m;
    const YAML::Node md = doc["metadata"];
    std::string mf = Field("metadata");
    if (!md || md.IsNull()) {
      object_ = kind;
      Fail(doc, mf, "Required value: metadata.name is required");
      return m;
    }
    if (!IsMapOrReport(md, mf)) return m;
    ReadString(md, "name", Join(mf, "name"), &m.name);
    if (namespaced) ReadString(md, "namespace", Join(mf, "namespace"), &m.ns);
    object_ = namespaced ? absl::StrCat(kind, " ", m.ns.empty() ? "default" : m.ns, "/", m.name)
                         : absl::StrCat(kind, " ", m.name);
    CheckKnownKeys(
        md, mf,
        {"name", "generateName", "namespace", "uid", "labels", "annotations", "resourceVersion",
         "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
         "ownerReferences", "finalizers", "managedFields", "selfLink"});
    CheckDuplicateKeys(doc, path_prefix_);
    if (namespaced && m.ns.empty()) m.ns = "default";
    if (m.name.empty()) {
      Fail(md, Join(mf, "name"), "Required value: name is required");
    } else {
      std::string why =
          kind == "Namespace" ? CheckDns1123Label(m.name) : CheckDns1123Subdomain(m.name);
      if (!why.empty())
        Fail(md["name"], Join(mf, "name"),
             absl::StrCat("Invalid value: ", Quote(m.name), ": ", why));
    }
    if (namespaced) {
      if (std::string why = CheckDns1123Label(m.ns); !why.empty()) {
        Fail(md["namespace"], Join(mf, "namespace"),
             absl::StrCat("Invalid value: ", Quote(m.ns), ": ", why));
      }
    }
    ReadString(md, "uid", Join(mf, "uid"), &m.uid);
    m.labels = ReadLabels(md, "labels", Join(mf, "labels"));
    return m;
  }

  // ---- kinds ------------------------------------------------------------------------------
  void DecodeNamespace(const YAML::Node& doc) {
    int before = error_count_;
    Meta m = ReadMeta(doc, "Namespace", false);
    if (error_count_ != before) return;
    Namespace ns;
    ns.name = m.name;
    ns.labels = m.labels;
    // The API server sets this label on every namespace (and overwrites any other value).
    ns.labels[kNamespaceNameLabel] = m.name;
    ns.source = SourceRef{file_, object_line_};
    staged_.push_back(std::move(ns));
  }

  void DecodeNode(const YAML::Node& doc) {
    int before = error_count_;
    Meta m = ReadMeta(doc, "Node", false);
    Node node;
    node.name = m.name;
    node.labels = m.labels;
    const YAML::Node spec = doc["spec"];
    if (spec && spec.IsMap()) {
      std::string cidr;
      if (ReadString(spec, "podCIDR", Field("spec.podCIDR"), &cidr))
        AddCidr(spec["podCIDR"], Field("spec.podCIDR"), cidr, &node.pod_cidrs);
      const YAML::Node list = spec["podCIDRs"];
      if (list && !list.IsNull() && IsSeqOrReport(list, Field("spec.podCIDRs"))) {
        for (size_t i = 0; i < list.size(); ++i) {
          std::string f = absl::StrCat(Field("spec.podCIDRs"), "[", i, "]");
          if (!list[i].IsScalar()) {
            Fail(list[i], f, "must be a string");
            continue;
          }
          AddCidr(list[i], f, list[i].Scalar(), &node.pod_cidrs);
        }
      }
    }
    const YAML::Node status = doc["status"];
    if (status && status.IsMap()) {
      const YAML::Node addrs = status["addresses"];
      if (addrs && !addrs.IsNull() && IsSeqOrReport(addrs, Field("status.addresses"))) {
        for (size_t i = 0; i < addrs.size(); ++i) {
          std::string f = absl::StrCat(Field("status.addresses"), "[", i, "]");
          if (!IsMapOrReport(addrs[i], f)) continue;
          std::string type, address;
          ReadString(addrs[i], "type", f + ".type", &type);
          ReadString(addrs[i], "address", f + ".address", &address);
          if (type != "InternalIP" && type != "ExternalIP") continue;
          auto ip = ParseIp(address);
          if (!ip.ok()) {
            Fail(addrs[i]["address"], f + ".address",
                 absl::StrCat("Invalid value: ", std::string(ip.status().message())));
            continue;
          }
          node.addresses.push_back(*ip);
        }
      }
    }
    if (error_count_ != before) return;
    node.source = SourceRef{file_, object_line_};
    staged_.push_back(std::move(node));
  }

  void AddCidr(const YAML::Node& at, const std::string& field, const std::string& text,
               std::vector<Cidr>* out) {
    auto c = ParseCidr(text);
    if (!c.ok()) {
      Fail(at, field, absl::StrCat("Invalid value: ", std::string(c.status().message())));
      return;
    }
    if (std::find(out->begin(), out->end(), *c) == out->end()) out->push_back(*c);
  }

  void DecodePod(const YAML::Node& doc) {
    int before = error_count_;
    Meta m = ReadMeta(doc, "Pod", true);
    Pod pod;
    pod.ns = m.ns;
    pod.name = m.name;
    pod.uid = m.uid.empty() ? DerivedPodUid(m.ns, m.name) : m.uid;
    pod.labels = m.labels;
    const YAML::Node spec = doc["spec"];
    if (spec && !spec.IsNull() && IsMapOrReport(spec, Field("spec"))) {
      std::string sa;
      if (ReadString(spec, "serviceAccountName", Field("spec.serviceAccountName"), &sa) ||
          ReadString(spec, "serviceAccount", Field("spec.serviceAccount"), &sa)) {
        if (std::string why = CheckDns1123Subdomain(sa); !why.empty()) {
          Fail(spec["serviceAccountName"], Field("spec.serviceAccountName"),
               absl::StrCat("Invalid value: ", Quote(sa), ": ", why));
        }
        pod.service_account = sa;
      }
      ReadString(spec, "nodeName", Field("spec.nodeName"), &pod.node_name);
      ReadBool(spec, "hostNetwork", Field("spec.hostNetwork"), &pod.host_network);
      DecodeContainerPorts(spec, &pod);
    }
    const YAML::Node status = doc["status"];
    if (status && !status.IsNull() && IsMapOrReport(status, Field("status"))) {
      std::string pod_ip;
      if (ReadString(status, "podIP", Field("status.podIP"), &pod_ip) && !pod_ip.empty()) {
        AddPodIp(status["podIP"], Field("status.podIP"), pod_ip, &pod);
      }
      const YAML::Node ips = status["podIPs"];
      if (ips && !ips.IsNull() && IsSeqOrReport(ips, Field("status.podIPs"))) {
        for (size_t i = 0; i < ips.size(); ++i) {
          std::string f = absl::StrCat(Field("status.podIPs"), "[", i, "].ip");
          std::string ip;
          if (ips[i].IsMap() && ReadString(ips[i], "ip", f, &ip)) {
            AddPodIp(ips[i]["ip"], f, ip, &pod);
          } else {
            Fail(ips[i], f, "Required value: each podIPs entry needs an ip");
          }
        }
      }
      if (pod.ips.size() > 2 || (pod.ips.size() == 2 && pod.ips[0].family == pod.ips[1].family)) {
        Fail(status, Field("status.podIPs"),
             "Invalid value: a pod has at most one IPv4 and one IPv6 address");
      }
    }
    if (error_count_ != before) return;
    pod.source = SourceRef{file_, object_line_};
    staged_.push_back(std::move(pod));
  }

  void AddPodIp(const YAML::Node& at, const std::string& field, const std::string& text, Pod* pod) {
    auto ip = ParseIp(text);
    if (!ip.ok()) {
      Fail(at, field, absl::StrCat("Invalid value: ", std::string(ip.status().message())));
      return;
    }
    if (std::find(pod->ips.begin(), pod->ips.end(), *ip) == pod->ips.end()) pod->ips.push_back(*ip);
  }

  void DecodeContainerPorts(const YAML::Node& spec, Pod* pod) {
    std::set<std::string> names;
    for (const char* list_name : {"containers", "initContainers"}) {
      const YAML::Node containers = spec[list_name];
      std::string cf = Field(absl::StrCat("spec.", list_name));
      if (!containers || containers.IsNull() || !IsSeqOrReport(containers, cf)) continue;
      for (size_t c = 0; c < containers.size(); ++c) {
        const YAML::Node ports = containers[c]["ports"];
        std::string pf = absl::StrCat(cf, "[", c, "].ports");
        if (!ports || ports.IsNull() || !IsSeqOrReport(ports, pf)) continue;
        // Named ports of init containers count only for restartable (sidecar) ones.
        std::string restart;
        if (std::string(list_name) == "initContainers" &&
            !(containers[c]["restartPolicy"] && containers[c]["restartPolicy"].IsScalar() &&
              containers[c]["restartPolicy"].Scalar() == "Always")) {
          continue;
        }
        for (size_t i = 0; i < ports.size(); ++i) {
          std::string f = absl::StrCat(pf, "[", i, "]");
          const YAML::Node p = ports[i];
          if (!IsMapOrReport(p, f)) continue;
          ContainerPort cp;
          const YAML::Node num = p["containerPort"];
          if (!num || num.IsNull()) {
            Fail(p, f + ".containerPort", "Required value");
            continue;
          }
          auto n = ScalarInt(num, f + ".containerPort");
          if (!n) continue;
          if (*n < 1 || *n > 65535) {
            Fail(num, f + ".containerPort",
                 absl::StrCat("Invalid value: ", *n, ": must be between 1 and 65535, inclusive"));
            continue;
          }
          cp.port = static_cast<int>(*n);
          std::string proto = "TCP";
          ReadString(p, "protocol", f + ".protocol", &proto);
          auto pr = ParseProtocol(proto);
          if (!pr) {
            Fail(p["protocol"], f + ".protocol",
                 absl::StrCat("Unsupported value: ", Quote(proto),
                              ": supported values: \"SCTP\", \"TCP\", \"UDP\""));
            continue;
          }
          cp.protocol = *pr;
          if (ReadString(p, "name", f + ".name", &cp.name) && !cp.name.empty()) {
            if (std::string why = CheckPortName(cp.name); !why.empty()) {
              Fail(p["name"], f + ".name",
                   absl::StrCat("Invalid value: ", Quote(cp.name), ": ", why));
              continue;
            }
            if (!names.insert(cp.name).second) {
              Fail(p["name"], f + ".name", absl::StrCat("Duplicate value: ", Quote(cp.name)));
              continue;
            }
          }
          pod->ports.push_back(cp);
        }
      }
    }
  }

  // ---- NetworkPolicy ----------------------------------------------------------------------
  void DecodeNetworkPolicy(const YAML::Node& doc) {
    int before = error_count_;
    Meta m = ReadMeta(doc, "NetworkPolicy", true);
    NetworkPolicy np;
    np.ns = m.ns;
    np.name = m.name;
    const YAML::Node spec = doc["spec"];
    std::string sf = Field("spec");
    if (!spec || spec.IsNull()) {
      Fail(doc, sf, "Required value: spec is required");
      return;
    }
    if (!IsMapOrReport(spec, sf)) return;
    CheckKnownKeys(spec, sf, {"podSelector", "policyTypes", "ingress", "egress"});
    if (auto sel = ReadSelector(spec, "podSelector", sf + ".podSelector")) np.pod_selector = *sel;

    bool has_egress_rules = false;
    const YAML::Node ingress = spec["ingress"];
    if (ingress && !ingress.IsNull() && IsSeqOrReport(ingress, sf + ".ingress")) {
      for (size_t i = 0; i < ingress.size(); ++i) {
        np.ingress.push_back(ReadRule(ingress[i], absl::StrCat(sf, ".ingress[", i, "]"), "from"));
      }
    }
    const YAML::Node egress = spec["egress"];
    if (egress && !egress.IsNull() && IsSeqOrReport(egress, sf + ".egress")) {
      for (size_t i = 0; i < egress.size(); ++i) {
        np.egress.push_back(ReadRule(egress[i], absl::StrCat(sf, ".egress[", i, "]"), "to"));
      }
      has_egress_rules = egress.size() > 0;
    }

    const YAML::Node types = spec["policyTypes"];
    bool types_given = false;
    if (types && !types.IsNull() && IsSeqOrReport(types, sf + ".policyTypes")) {
      if (types.size() > 2) {
        Fail(types, sf + ".policyTypes",
             absl::StrCat("Too many: ", types.size(), ": must have at most 2 items"));
      }
      for (size_t i = 0; i < types.size(); ++i) {
        std::string f = absl::StrCat(sf, ".policyTypes[", i, "]");
        std::string t = types[i].IsScalar() ? types[i].Scalar() : "";
        if (t == "Ingress") {
          np.affects_ingress = true;
        } else if (t == "Egress") {
          np.affects_egress = true;
        } else {
          Fail(types[i], f,
               absl::StrCat("Unsupported value: ", Quote(t),
                            ": supported values: \"Ingress\", \"Egress\""));
        }
      }
      types_given = types.size() > 0;
    }
    if (!types_given) {
      // Defaulting as the API server does: Ingress always, Egress only when egress rules exist
      // (an empty `egress: []` does not count).
      np.affects_ingress = true;
      np.affects_egress = has_egress_rules;
    }
    if (error_count_ != before) return;
    np.source = SourceRef{file_, object_line_};
    staged_.push_back(std::move(np));
  }

  std::optional<LabelSelector> ReadSelector(const YAML::Node& parent, const char* key,
                                            const std::string& field) {
    const YAML::Node n = parent[key];
    if (!n || n.IsNull()) return std::nullopt;
    if (!IsMapOrReport(n, field)) return std::nullopt;
    CheckKnownKeys(n, field, {"matchLabels", "matchExpressions"});
    LabelSelector sel;
    sel.match_labels = ReadLabels(n, "matchLabels", field + ".matchLabels");
    const YAML::Node exprs = n["matchExpressions"];
    std::string ef = field + ".matchExpressions";
    if (exprs && !exprs.IsNull() && IsSeqOrReport(exprs, ef)) {
      for (size_t i = 0; i < exprs.size(); ++i) {
        std::string f = absl::StrCat(ef, "[", i, "]");
        const YAML::Node e = exprs[i];
        if (!IsMapOrReport(e, f)) continue;
        CheckKnownKeys(e, f, {"key", "operator", "values"});
        SelectorRequirement req;
        if (!ReadString(e, "key", f + ".key", &req.key) || req.key.empty()) {
          Fail(e, f + ".key", "Required value");
        } else if (std::string why = CheckQualifiedName(req.key); !why.empty()) {
          Fail(e["key"], f + ".key", absl::StrCat("Invalid value: ", Quote(req.key), ": ", why));
        }
        std::string op;
        ReadString(e, "operator", f + ".operator", &op);
        if (op == "In")
          req.op = SelectorOp::kIn;
        else if (op == "NotIn")
          req.op = SelectorOp::kNotIn;
        else if (op == "Exists")
          req.op = SelectorOp::kExists;
        else if (op == "DoesNotExist")
          req.op = SelectorOp::kDoesNotExist;
        else {
          Fail(e["operator"] ? e["operator"] : e, f + ".operator",
               op.empty()
                   ? "Required value"
                   : absl::StrCat(
                         "Invalid value: ", Quote(op),
                         ": not a valid selector operator (In, NotIn, Exists, DoesNotExist)"));
          continue;
        }
        const YAML::Node vals = e["values"];
        if (vals && !vals.IsNull() && IsSeqOrReport(vals, f + ".values")) {
          for (size_t j = 0; j < vals.size(); ++j) {
            std::string vf = absl::StrCat(f, ".values[", j, "]");
            if (!vals[j].IsScalar() || IsTypedPlainScalar(vals[j])) {
              Fail(vals[j], vf, "must be a string (quote it)");
              continue;
            }
            std::string v = vals[j].Scalar();
            if (std::string why = CheckLabelValue(v); !why.empty()) {
              Fail(vals[j], vf, absl::StrCat("Invalid value: ", Quote(v), ": ", why));
            }
            req.values.push_back(v);
          }
        }
        bool needs_values = req.op == SelectorOp::kIn || req.op == SelectorOp::kNotIn;
        if (needs_values && req.values.empty()) {
          Fail(e, f + ".values",
               "Required value: must be specified when `operator` is 'In' or 'NotIn'");
        }
        if (!needs_values && !req.values.empty()) {
          Fail(vals, f + ".values",
               "Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        }
        sel.match_expressions.push_back(std::move(req));
      }
    }
    return sel;
  }

  PolicyRule ReadRule(const YAML::Node& n, const std::string& field, const char* peers_key) {
    PolicyRule rule;
    if (n.IsNull()) return rule;  // `- {}` and `-` (null) both mean an empty rule
    if (!IsMapOrReport(n, field)) return rule;
    CheckKnownKeys(n, field, {peers_key, "ports"});
    const YAML::Node ports = n["ports"];
    if (ports && !ports.IsNull() && IsSeqOrReport(ports, field + ".ports")) {
      for (size_t i = 0; i < ports.size(); ++i) {
        if (auto p = ReadPort(ports[i], absl::StrCat(field, ".ports[", i, "]")))
          rule.ports.push_back(*p);
      }
    }
    const YAML::Node peers = n[peers_key];
    std::string pf = absl::StrCat(field, ".", peers_key);
    if (peers && !peers.IsNull() && IsSeqOrReport(peers, pf)) {
      for (size_t i = 0; i < peers.size(); ++i) {
        if (auto p = ReadPeer(peers[i], absl::StrCat(pf, "[", i, "]"))) rule.peers.push_back(*p);
      }
    }
    return rule;
  }

  std::optional<PolicyPort> ReadPort(const YAML::Node& n, const std::string& field) {
    PolicyPort port;
    if (n.IsNull()) return port;  // all ports of TCP
    if (!IsMapOrReport(n, field)) return std::nullopt;
    CheckKnownKeys(n, field, {"protocol", "port", "endPort"});
    int before = error_count_;
    std::string proto = "TCP";
    ReadString(n, "protocol", field + ".protocol", &proto);
    if (auto p = ParseProtocol(proto)) {
      port.protocol = *p;
    } else {
      Fail(n["protocol"], field + ".protocol",
           absl::StrCat("Unsupported value: ", Quote(proto),
                        ": supported values: \"SCTP\", \"TCP\", \"UDP\""));
    }
    const YAML::Node pn = n["port"];
    if (pn && !pn.IsNull()) {
      int64_t v = 0;
      if (!pn.IsScalar()) {
        Fail(pn, field + ".port", "must be an integer or a port name");
      } else if (pn.Tag() != "!" && absl::SimpleAtoi(pn.Scalar(), &v)) {
        if (v < 1 || v > 65535) {
          Fail(pn, field + ".port",
               absl::StrCat("Invalid value: ", v, ": must be between 1 and 65535, inclusive"));
        } else {
          port.port = static_cast<int>(v);
        }
      } else {
        std::string name = pn.Scalar();
        if (std::string why = CheckPortName(name); !why.empty()) {
          Fail(pn, field + ".port", absl::StrCat("Invalid value: ", Quote(name), ": ", why));
        } else {
          port.port = name;
        }
      }
    }
    const YAML::Node en = n["endPort"];
    if (en && !en.IsNull()) {
      if (auto e = ScalarInt(en, field + ".endPort")) {
        if (std::holds_alternative<std::string>(port.port)) {
          Fail(en, field + ".endPort",
               "Invalid value: may not be specified when `port` is non-numeric");
        } else if (std::holds_alternative<std::monostate>(port.port)) {
          if (!pn || pn.IsNull())
            Fail(en, field + ".endPort",
                 "Required value: may not be specified when `port` is not specified");
        } else if (*e < std::get<int>(port.port)) {
          Fail(en, field + ".endPort",
               absl::StrCat("Invalid value: ", *e, ": must be greater than or equal to `port`"));
        } else if (*e > 65535) {
          Fail(en, field + ".endPort",
               absl::StrCat("Invalid value: ", *e, ": must be between 1 and 65535, inclusive"));
        } else {
          port.end_port = static_cast<int>(*e);
        }
      }
    }
    if (error_count_ != before) return std::nullopt;
    return port;
  }

  std::optional<PolicyPeer> ReadPeer(const YAML::Node& n, const std::string& field) {
    PolicyPeer peer;
    if (n.IsNull() || (n.IsMap() && n.size() == 0)) {
      Fail(n, field, "Required value: must specify a peer");
      return std::nullopt;
    }
    if (!IsMapOrReport(n, field)) return std::nullopt;
    CheckKnownKeys(n, field, {"podSelector", "namespaceSelector", "ipBlock"});
    int before = error_count_;
    peer.pod_selector = ReadSelector(n, "podSelector", field + ".podSelector");
    peer.namespace_selector = ReadSelector(n, "namespaceSelector", field + ".namespaceSelector");
    const YAML::Node ib = n["ipBlock"];
    if (ib && !ib.IsNull() && IsMapOrReport(ib, field + ".ipBlock")) {
      std::string bf = field + ".ipBlock";
      CheckKnownKeys(ib, bf, {"cidr", "except"});
      IpBlock block;
      std::string cidr;
      bool cidr_ok = false;
      if (!ReadString(ib, "cidr", bf + ".cidr", &cidr) || cidr.empty()) {
        Fail(ib, bf + ".cidr", "Required value");
      } else if (auto c = ParseCidr(cidr); !c.ok()) {
        Fail(ib["cidr"], bf + ".cidr",
             absl::StrCat("Invalid value: ", std::string(c.status().message())));
      } else {
        block.cidr = *c;
        cidr_ok = true;
      }
      const YAML::Node ex = ib["except"];
      if (ex && !ex.IsNull() && IsSeqOrReport(ex, bf + ".except")) {
        for (size_t i = 0; i < ex.size(); ++i) {
          std::string f = absl::StrCat(bf, ".except[", i, "]");
          if (!ex[i].IsScalar()) {
            Fail(ex[i], f, "must be a string");
            continue;
          }
          auto c = ParseCidr(ex[i].Scalar());
          if (!c.ok()) {
            Fail(ex[i], f, absl::StrCat("Invalid value: ", std::string(c.status().message())));
            continue;
          }
          // As the API server: each except must be a strict subset of cidr.
          if (cidr_ok && (!block.cidr.Covers(*c) || c->prefix_len <= block.cidr.prefix_len)) {
            Fail(ex[i], f,
                 absl::StrCat("Invalid value: ", Quote(ex[i].Scalar()),
                              ": must be a strict subset of `cidr` (", cidr, ")"));
            continue;
          }
          block.except.push_back(*c);
        }
      }
      peer.ip_block = block;
      if (peer.pod_selector || peer.namespace_selector) {
        Fail(n, field,
             "Forbidden: may not specify more than 1 peer type (ipBlock with podSelector or "
             "namespaceSelector)");
      }
    }
    if (!peer.pod_selector && !peer.namespace_selector && !peer.ip_block &&
        error_count_ == before) {
      Fail(n, field, "Required value: must specify a peer");
    }
    if (error_count_ != before) return std::nullopt;
    return peer;
  }

  std::string file_;
  std::vector<ManifestError>* errors_;
  std::vector<std::string>* notes_;
  std::string object_;
  std::string path_prefix_;
  int object_line_ = 0;
  int error_count_ = 0;
  std::vector<Staged> staged_;
};

std::string KindKey(const Staged& s) {
  return std::visit(
      [](const auto& o) -> std::string {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Namespace>) return "Namespace " + o.name;
        if constexpr (std::is_same_v<T, Node>) return "Node " + o.name;
        if constexpr (std::is_same_v<T, Pod>) return "Pod " + o.Key();
        if constexpr (std::is_same_v<T, NetworkPolicy>) return "NetworkPolicy " + o.Key();
      },
      s);
}

const SourceRef& SourceOf(const Staged& s) {
  return std::visit([](const auto& o) -> const SourceRef& { return o.source; }, s);
}

// One file, parsed and decoded: what it would add, or what is wrong with it.
struct ParsedFile {
  std::vector<Staged> staged;
  std::vector<std::string> keys;  // KindKey of each staged object
  std::vector<ManifestError> errors;
  std::vector<std::string> notes;
  unsigned kinds = 0;  // bit i: holds objects of Staged alternative i
};

ParsedFile ParseFile(const std::string& file, const std::string& content) {
  ParsedFile pf;
  FileDecoder dec(file, &pf.errors, &pf.notes);
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(content);
    for (const auto& d : docs) dec.DecodeDocument(d, "");
  } catch (const YAML::Exception& e) {
    pf.errors.push_back(ManifestError{file, e.mark.line >= 0 ? e.mark.line + 1 : 0, "", "",
                                      absl::StrCat("cannot parse: ", e.msg)});
    return pf;
  }
  if (!pf.errors.empty()) return pf;
  pf.staged = std::move(dec.staged());
  for (const auto& st : pf.staged) {
    pf.keys.push_back(KindKey(st));
    pf.kinds |= 1u << st.index();
  }
  return pf;
}

using ParsedFiles = std::vector<std::shared_ptr<const ParsedFile>>;
// A file's content, shared between the loads (and the last-good copies) that read it.
using Text = std::shared_ptr<const std::string>;
using Texts = std::vector<std::pair<std::string, Text>>;  // (path, content) in path order

// What stat() says about a file read earlier, and when it was read: if none of it changed and
// the file had not been modified for a second when it was read (so a write within the same
// timestamp tick cannot hide behind an unchanged mtime), the content read then is still the
// file's content.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0, read_at_ns = 0;
  Text text;
};

// Which files are committed, in order: a file with errors, or naming an object that an earlier
// committed file (or itself, earlier) already defines, contributes nothing.
ParsedFiles CommittedFiles(const std::vector<std::string>& names, const ParsedFiles& parsed,
                           LoadResult* out) {
  ParsedFiles committed;
  // Key -> the file defining it (index into `parsed`) and where. A file's keys go in as they
  // are checked; a file found to repeat a name takes its keys out again.
  struct Where {
    size_t file;
    const std::string* path;
    int line;
  };
  absl::flat_hash_map<std::string_view, Where> defined;
  size_t total = 0;
  for (const auto& pf : parsed) total += pf->keys.size();
  defined.reserve(total);
  for (size_t f = 0; f < parsed.size(); ++f) {
    const ParsedFile& pf = *parsed[f];
    out->notes.insert(out->notes.end(), pf.notes.begin(), pf.notes.end());
    if (!pf.errors.empty()) {
      out->errors.insert(out->errors.end(), pf.errors.begin(), pf.errors.end());
      continue;
    }
    bool duplicate = false;
    std::vector<std::string_view> added;
    added.reserve(pf.keys.size());
    for (size_t i = 0; i < pf.staged.size(); ++i) {
      const SourceRef& src = SourceOf(pf.staged[i]);
      auto [it, fresh] = defined.try_emplace(pf.keys[i], Where{f, &src.file, src.line});
      if (fresh) {
        added.push_back(pf.keys[i]);
        continue;
      }
      std::string where = it->second.file == f
                              ? std::string("earlier in this file")
                              : absl::StrCat(*it->second.path, ":", it->second.line);
      out->errors.push_back(
          ManifestError{names[f], src.line, pf.keys[i], "metadata.name",
                        absl::StrCat("Duplicate value: already defined at ", where)});
      duplicate = true;
    }
    if (duplicate) {
      for (std::string_view k : added) defined.erase(k);
      continue;
    }
    committed.push_back(parsed[f]);
  }
  return committed;
}

}  // namespace

// Parsed files by path, with the content they were parsed from: a file whose content did not
// change is not parsed again (parsing dominates reloads of large manifest directories). Also
// each kind's map of the last load with the files it was built from: a kind whose files did not
// change is the same shared map again (an edit to one policy file copies no pods).
struct ParseCache {
  std::map<std::string, std::pair<Text, std::shared_ptr<const ParsedFile>>> files;
  std::array<ParsedFiles, std::variant_size_v<Staged>> kind_files;
  ClusterState declared;   // the objects of the last load, before Finalize()
  ClusterState finalized;  // and after: its pod IP index serves the next load if pods are the same
  std::map<std::string, FileStamp> stamps;  // by path: files not read again while unchanged
};

namespace {

template <typename T, typename... Ts>
constexpr size_t IndexIn(std::variant<Ts...>*) {
  size_t i = 0;
  (void)((std::is_same_v<T, Ts> ? false : (++i, true)) && ...);
  return i;
}

// Fills `map` with the objects of kind T from `committed`, or reuses the cached map of the last
// load if the same files made it.
template <typename T, typename Map>
void BuildKind(const ParsedFiles& committed, ParseCache* cache, Map ClusterState::*member,
               ClusterState* state) {
  constexpr size_t kIndex = IndexIn<T>(static_cast<Staged*>(nullptr));
  ParsedFiles files;
  for (const auto& pf : committed) {
    if (pf->kinds & (1u << kIndex)) files.push_back(pf);
  }
  if (cache && cache->kind_files[kIndex] == files) {
    state->*member = cache->declared.*member;
    return;
  }
  typename std::decay_t<decltype((state->*member).get())> map;
  for (const auto& pf : files) {
    for (const auto& st : pf->staged) {
      if (const T* o = std::get_if<T>(&st)) {
        if constexpr (std::is_same_v<T, Namespace> || std::is_same_v<T, Node>)
          map.emplace(o->name, *o);
        else
          map.emplace(o->Key(), *o);
      }
    }
  }
  state->*member = std::move(map);
  if (cache) {
    cache->kind_files[kIndex] = std::move(files);
    cache->declared.*member = state->*member;
  }
}

LoadResult LoadTexts(const Texts& files, ParseCache* cache) {
  LoadResult out;
  std::map<std::string, std::pair<Text, std::shared_ptr<const ParsedFile>>> used;
  std::vector<std::string> names;
  ParsedFiles parsed;
  for (const auto& [name, content] : files) {
    std::shared_ptr<const ParsedFile> pf;
    if (cache) {
      auto it = cache->files.find(name);
      if (it != cache->files.end() &&
          (it->second.first == content || *it->second.first == *content))
        pf = it->second.second;
    }
    if (!pf) pf = std::make_shared<const ParsedFile>(ParseFile(name, *content));
    names.push_back(name);
    parsed.push_back(pf);
    if (cache) used.emplace(name, std::pair(content, pf));
    ++out.files_read;
  }
  if (cache) cache->files = std::move(used);
  ParsedFiles committed = CommittedFiles(names, parsed, &out);
  BuildKind<Namespace>(committed, cache, &ClusterState::namespaces, &out.state);
  BuildKind<Node>(committed, cache, &ClusterState::nodes, &out.state);
  BuildKind<Pod>(committed, cache, &ClusterState::pods, &out.state);
  BuildKind<NetworkPolicy>(committed, cache, &ClusterState::policies, &out.state);
  if (cache) out.state.AdoptIndexOf(cache->finalized);
  out.state.Finalize();
  if (cache) cache->finalized = out.state;
  for (const auto& [name, ns] : out.state.namespaces) {
    if (ns.implicit)
      out.notes.push_back(
          absl::StrCat("namespace ", name, " has no Namespace object; using only its name label"));
  }
  return out;
}

}  // namespace

LoadResult LoadManifestTexts(const std::vector<std::pair<std::string, std::string>>& files) {
  Texts texts;
  for (const auto& [name, content] : files)
    texts.emplace_back(name, std::make_shared<const std::string>(content));
  return LoadTexts(texts, nullptr);
}

std::string DerivedPodUid(const std::string& ns, const std::string& name) {
  auto fnv = [](const std::string& s, uint64_t h) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
  };
  std::string key = ns + "/" + name;
  uint64_t a = fnv(key, 1469598103934665603ull), b = fnv(key, 0x9e3779b97f4a7c15ull);
  char buf[40];
  snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(a >> 32),
           static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xffff),
           static_cast<unsigned>(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

namespace {

int64_t Ns(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

// Every manifest file below `dir`, in path order. With `cache`, a file whose stat() is what it
// was when it was last read (FileStamp) is not read again.
Texts ReadManifestFiles(const std::string& dir, std::vector<ManifestError>* errors,
                        ParseCache* cache) {
  namespace fs = std::filesystem;
  std::vector<std::string> paths;
  std::error_code ec;
  Texts files;
  if (!fs::is_directory(dir, ec)) {
    errors->push_back(ManifestError{dir, 0, "", "", "not a readable directory"});
    return files;
  }
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    // Hidden entries are not manifests: a ConfigMap volume keeps its files in a hidden
    // `..<timestamp>/` directory behind the visible links, and would otherwise load twice.
    if (it->path().filename().string().starts_with(".")) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    std::string ext = it->path().extension().string();
    if (ext == ".yaml" || ext == ".yml" || ext == ".json") paths.push_back(it->path().string());
  }
  if (ec) {
    errors->push_back(ManifestError{dir, 0, "", "", absl::StrCat("cannot list: ", ec.message())});
    return files;
  }
  std::sort(paths.begin(), paths.end());
  std::map<std::string, FileStamp> stamps;
  for (const auto& p : paths) {
    struct stat st {};
    bool have_stat = ::stat(p.c_str(), &st) == 0;
    if (cache && have_stat) {
      auto it = cache->stamps.find(p);
      if (it != cache->stamps.end()) {
        const FileStamp& old = it->second;
        if (old.dev == st.st_dev && old.ino == st.st_ino && old.size == st.st_size &&
            old.mtime_ns == Ns(st.st_mtim) && old.ctime_ns == Ns(st.st_ctim) &&
            old.ctime_ns < old.read_at_ns - 1000000000) {
          files.emplace_back(p, old.text);
          stamps.emplace(p, old);
          continue;
        }
      }
    }
    struct timespec now {};
    clock_gettime(CLOCK_REALTIME, &now);
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      errors->push_back(ManifestError{p, 0, "", "", "cannot read file"});
      continue;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Text text = std::make_shared<const std::string>(ss.str());
    files.emplace_back(p, text);
    if (have_stat) {
      stamps.emplace(p, FileStamp{st.st_dev, st.st_ino, st.st_size, Ns(st.st_mtim), Ns(st.st_ctim),
                                  Ns(now), text});
    }
  }
  if (cache) cache->stamps = std::move(stamps);
  return files;
}
}  // namespace

LoadResult ManifestSource::Load() {
  std::vector<ManifestError> read_errors;
  if (!cache_) cache_ = std::make_shared<ParseCache>();
  Texts files = ReadManifestFiles(dir_, &read_errors, cache_.get());
  if (!read_errors.empty() && files.empty()) {
    // The directory itself is unreadable: keep everything as it was.
    for (const auto& [p, c] : last_good_) files.emplace_back(p, c);
  }
  LoadResult first = LoadTexts(files, cache_.get());
  std::set<std::string> bad;
  for (const auto& e : first.errors) bad.insert(e.file);
  if (bad.empty()) {
    last_good_.clear();
    for (const auto& [p, c] : files) last_good_.emplace_hint(last_good_.end(), p, c);
    first.errors.insert(first.errors.begin(), read_errors.begin(), read_errors.end());
    return first;
  }
  // Again, with each invalid file replaced by its last valid version (or left out).
  Texts substituted;
  for (const auto& [p, c] : files) {
    if (!bad.count(p)) {
      substituted.emplace_back(p, c);
    } else if (auto it = last_good_.find(p); it != last_good_.end()) {
      substituted.emplace_back(p, it->second);
      first.notes.push_back(absl::StrCat(p, ": invalid; keeping its last valid version in force"));
    }
  }
  LoadResult out = LoadTexts(substituted, cache_.get());
  std::map<std::string, Text> good;
  std::set<std::string> still_bad;
  for (const auto& e : out.errors) still_bad.insert(e.file);
  for (const auto& [p, c] : substituted) {
    if (!still_bad.count(p)) good[p] = c;
  }
  last_good_ = std::move(good);
  out.errors = first.errors;  // report what is wrong with the files as they are now
  out.errors.insert(out.errors.begin(), read_errors.begin(), read_errors.end());
  out.notes = std::move(first.notes);
  return out;
}

LoadResult LoadManifestDir(const std::string& dir) {
  std::vector<ManifestError> read_errors;
  Texts files = ReadManifestFiles(dir, &read_errors, nullptr);
  LoadResult out = LoadTexts(files, nullptr);
  out.errors.insert(out.errors.begin(), read_errors.begin(), read_errors.end());
  return out;
}

}  // namespace warden::policy
