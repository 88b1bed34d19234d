#include "agent/policy/istio_fields.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/policy/ip.h"
#include "agent/policy/k8s_decode_fields.h"

namespace warden::policy {
namespace {

bool AlphaNum(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)); }

// Istio's DNS-1123 label: letters (either case), digits and '-', not starting or ending with '-',
// at most 63 characters.
bool IsDns1123Label(absl::string_view s) {
  if (s.empty() || s.size() > 63 || !AlphaNum(s.front()) || !AlphaNum(s.back())) return false;
  for (char c : s) {
    if (!AlphaNum(c) && c != '-') return false;
  }
  return true;
}

// The first label of a wildcard domain: "*", "*label", "*-label" or a label.
bool IsWildcardLabel(absl::string_view s) {
  if (s == "*") return true;
  if (s.size() > 63) return false;
  if (absl::StartsWith(s, "*-")) {
    s.remove_prefix(2);
  } else if (absl::StartsWith(s, "*")) {
    s.remove_prefix(1);
  }
  return IsDns1123Label(s);
}

std::string CheckPreconditions(const std::string& name) {
  if (name.empty()) return "empty domain name not allowed";
  if (name.size() > 255) return absl::StrCat("domain name \"", name, "\" too long (max 255)");
  return "";
}

// Labels after the first: DNS-1123 labels, the last not all digits, a trailing dot allowed.
std::string CheckLabels(const std::string& domain, absl::string_view rest) {
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '.');
  absl::string_view tld = parts.back();
  if (!tld.empty() && tld.find_first_not_of("0123456789") == absl::string_view::npos)
    return absl::StrCat("domain name \"", domain, "\" invalid (top level domain \"", tld,
                        "\" cannot be all-numeric)");
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i == parts.size() - 1 && parts[i].empty()) break;  // "istio.io."
    if (!IsDns1123Label(parts[i]))
      return absl::StrCat("domain name \"", domain, "\" invalid (label \"", parts[i],
                          "\" invalid)");
  }
  return "";
}

// A plain scalar YAML reads as a number or boolean would reach the API server as one, and the
// CRD's schema wants a string there.
bool StringScalarOrReport(ManifestReader* r, const YAML::Node& n, const std::string& field) {
  if (n.IsScalar() && !IsTypedPlainScalar(n)) return true;
  r->Fail(n, field, n.IsScalar() ? "must be a string (quote it)" : "must be a string");
  return false;
}

}  // namespace

std::string CheckWildcardDomain(const std::string& host) {
  if (std::string why = CheckPreconditions(host); !why.empty()) return why;
  size_t dot = host.find('.');
  absl::string_view first = absl::string_view(host).substr(0, dot);
  if (!IsWildcardLabel(first))
    return absl::StrCat("domain name \"", host, "\" invalid (label \"", first, "\" invalid)");
  if (dot == std::string::npos) return "";
  return CheckLabels(host, absl::string_view(host).substr(dot + 1));
}

std::string CheckFqdn(const std::string& host) {
  if (std::string why = CheckPreconditions(host); !why.empty()) return why;
  return CheckLabels(host, host);
}

std::string CheckIpOrCidr(const std::string& value) {
  if (value.find('/') != std::string::npos) {
    if (!ParseCidr(value).ok()) return absl::StrCat("bad CIDR range (", value, ")");
  } else if (!ParseIp(value).ok()) {
    return absl::StrCat("bad IP address (", value, ")");
  }
  return "";
}

std::string CheckPortString(const std::string& value) {
  uint64_t v = 0;
  if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(value, &v) || v > 65535)
    return absl::StrCat("bad port (", value, "): must be a number from 0 to 65535");
  return "";
}

std::vector<std::string> ReadStringList(ManifestReader* r, const YAML::Node& parent,
                                        const char* key, const std::string& field) {
  std::vector<std::string> out;
  const YAML::Node n = parent[key];
  if (!r->OptionalList(n, field)) return out;
  for (size_t i = 0; i < n.size(); ++i) {
    if (StringScalarOrReport(r, n[i], IndexField(field, i))) out.push_back(n[i].Scalar());
  }
  return out;
}

std::optional<uint32_t> ReadUint(ManifestReader* r, const YAML::Node& parent, const char* key,
                                 const std::string& field, uint32_t max) {
  const YAML::Node n = parent[key];
  if (!Present(n)) return std::nullopt;
  uint64_t v = 0;
  if (!n.IsScalar() || n.Tag() == "!" ||
      n.Scalar().find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(n.Scalar(), &v)) {
    r->Fail(n, field, "must be a non-negative integer");
    return std::nullopt;
  }
  if (v > max) {
    r->Fail(n, field, absl::StrCat("must be at most ", max, ", found ", n.Scalar()));
    return std::nullopt;
  }
  return static_cast<uint32_t>(v);
}

std::optional<size_t> ReadEnum(ManifestReader* r, const YAML::Node& parent, const char* key,
                               const std::string& field, const std::vector<const char*>& names) {
  std::string v;
  if (!r->ReadString(parent, key, field, &v)) return std::nullopt;
  for (size_t i = 0; i < names.size(); ++i) {
    if (v == names[i]) return i;
  }
  std::string known;
  for (const char* n : names) absl::StrAppend(&known, known.empty() ? "" : ", ", n);
  r->Fail(parent[key], field, absl::StrCat("unsupported value \"", v, "\" (one of ", known, ")"));
  return std::nullopt;
}

ExportTo ReadExportTo(ManifestReader* r, const YAML::Node& spec, const std::string& field,
                      const std::string& ns, bool service_entry) {
  ExportTo out = ReadStringList(r, spec, "exportTo", field);
  const YAML::Node at = spec["exportTo"];
  std::set<std::string> seen;
  for (size_t i = 0; i < out.size(); ++i) {
    const std::string& e = out[i];
    const std::string key = e == "." ? ns : e;
    const std::string f = IndexField(field, i);
    if (!seen.insert(key).second) {
      r->Fail(at[i], f,
              key != e ? absl::StrCat("duplicate entries in exportTo: . and current namespace ", ns)
                       : absl::StrCat("duplicate entries in exportTo for entry ", e));
      continue;
    }
    if (e == "~" && !service_entry) {
      r->Fail(at[i], f, "exportTo ~ (none) is not allowed for Istio configuration objects");
    } else if (e != "~" && e != "." && e != "*" && !IsDns1123Label(e)) {
      r->Fail(at[i], f, "only .,*, or a valid DNS 1123 label is allowed as exportTo entry");
    }
  }
  if (out.size() > 1 && seen.count("*"))
    r->Fail(at, field, "cannot have both public (*) and non-public exportTo values for a resource");
  if (out.size() > 1 && seen.count("~"))
    r->Fail(at, field, "cannot export service entry to no one (~) and someone");
  return out;
}

std::optional<LabelSelector> ReadWorkloadSelector(ManifestReader* r, const YAML::Node& parent,
                                                  const char* key, const std::string& field,
                                                  const char* labels_key) {
  const YAML::Node n = parent[key];
  if (!r->OptionalMap(n, field)) return std::nullopt;
  r->CheckKnownKeys(n, field, {labels_key});
  LabelSelector sel;
  const std::string mf = field + "." + labels_key;
  sel.match_labels = ReadStringMap(r, n[labels_key], mf, "label", nullptr, nullptr);
  for (const auto& [k, v] : sel.match_labels) {
    if (k.empty())
      r->Fail(n[labels_key], mf,
              absl::StrCat("empty key is not supported in selector: \"", k, "=", v, "\""));
    if (k.find('*') != std::string::npos || v.find('*') != std::string::npos)
      r->Fail(n[labels_key], JoinField(mf, k),
              absl::StrCat("wildcard is not supported in selector: \"", k, "=", v, "\""));
    if (v.size() > 63)
      r->Fail(n[labels_key], JoinField(mf, k), "label values may hold at most 63 characters");
  }
  return sel;
}

}  // namespace warden::policy
