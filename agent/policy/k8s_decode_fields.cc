#include "agent/policy/k8s_decode_fields.h"

#include <cstddef>
#include <map>

#include "absl/strings/str_cat.h"
#include "agent/policy/k8s_names.h"

namespace warden::policy {

std::string InvalidValue(const std::string& value, const std::string& why) {
  return absl::StrCat("Invalid value: ", Quote(value), ": ", why);
}

std::string InvalidValue(const absl::Status& status) {
  return absl::StrCat("Invalid value: ", std::string(status.message()));
}

std::string PortOutOfRange(int64_t port) {
  return absl::StrCat("Invalid value: ", port, ": must be between 1 and 65535, inclusive");
}

bool CheckName(ManifestReader* r, const YAML::Node& at, const std::string& field,
               const std::string& value, std::string (*check)(const std::string&)) {
  std::string why = check(value);
  if (why.empty()) return true;
  r->Fail(at, field, InvalidValue(value, why));
  return false;
}

std::optional<Protocol> ReadProtocol(ManifestReader* r, const YAML::Node& parent,
                                     const std::string& field) {
  std::string name = "TCP";
  r->ReadString(parent, "protocol", field, &name);
  if (auto p = ParseProtocol(name)) return p;
  r->Fail(parent["protocol"], field,
          absl::StrCat("Unsupported value: ", Quote(name),
                       ": supported values: \"SCTP\", \"TCP\", \"UDP\""));
  return std::nullopt;
}

// A map of strings (map[string]string in the API): each value a string (a plain `true` or `1` is
// refused, as the API server's decoder does), each key checked by `check_key`, each value by
// `check_value` when given. `what` names the values in messages ("label").
std::map<std::string, std::string> ReadStringMap(ManifestReader* r, const YAML::Node& n,
                                                 const std::string& field, const char* what,
                                                 std::string (*check_key)(const std::string&),
                                                 std::string (*check_value)(const std::string&)) {
  std::map<std::string, std::string> out;
  if (!r->OptionalMap(n, field)) return out;
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    std::string f = JoinField(field, k);
    if ((!kv.second.IsScalar() && !kv.second.IsNull()) || IsTypedPlainScalar(kv.second)) {
      r->Fail(kv.second, f,
              absl::StrCat("Invalid value: ", what, " values must be strings (quote it)"));
      continue;
    }
    std::string v = kv.second.IsNull() ? "" : kv.second.Scalar();
    if (check_key) CheckName(r, kv.first, f, k, check_key);
    if (check_value) CheckName(r, kv.second, f, v, check_value);
    out[k] = v;
  }
  return out;
}

namespace {

// The most bytes the keys and values of one object's annotations may hold together
// (apimachinery's TotalAnnotationSizeLimitB).
constexpr size_t kTotalAnnotationSizeLimit = 256 * 1024;

// metadata.annotations: keys qualified names (in any case), values strings, and all of it
// within kTotalAnnotationSizeLimit bytes. Warden keeps no annotation; it only refuses what the
// API server refuses.
Labels ReadAnnotations(ManifestReader* r, const YAML::Node& md, const std::string& field) {
  const YAML::Node n = md["annotations"];
  size_t total = 0;
  Labels annotations = ReadStringMap(r, n, field, "annotation", CheckAnnotationKey, nullptr);
  for (const auto& [k, v] : annotations) total += k.size() + v.size();
  if (total > kTotalAnnotationSizeLimit) {
    r->Fail(n, field,
            absl::StrCat("Too long: must have at most ", kTotalAnnotationSizeLimit,
                         " bytes (keys and values hold ", total, ")"));
  }
  return annotations;
}

}  // namespace

Labels ReadLabels(ManifestReader* r, const YAML::Node& parent, const char* key,
                  const std::string& field) {
  return ReadStringMap(r, parent[key], field, "label", CheckQualifiedName, CheckLabelValue);
}

namespace {

// metadata.name (and namespace): present, and names the API server accepts for `kind`.
void CheckMetaNames(ManifestReader* r, const YAML::Node& md, const std::string& field,
                    const std::string& kind, bool namespaced, const ObjectMeta& m) {
  std::string name_field = JoinField(field, "name");
  if (m.name.empty()) {
    r->Fail(md, name_field, "Required value: name is required");
  } else {
    CheckName(r, md["name"], name_field, m.name,
              kind == "Namespace" ? CheckDns1123Label : CheckDns1123Subdomain);
  }
  if (namespaced)
    CheckName(r, md["namespace"], JoinField(field, "namespace"), m.ns, CheckDns1123Label);
}

}  // namespace

ObjectMeta ReadMeta(ManifestReader* r, const YAML::Node& doc, const std::string& kind,
                    bool namespaced) {
  ObjectMeta m;
  const YAML::Node md = doc["metadata"];
  std::string mf = r->Field("metadata");
  if (!Present(md)) {
    r->SetObject(kind);
    r->Fail(doc, mf, "Required value: metadata.name is required");
    return m;
  }
  if (!r->IsMapOrReport(md, mf)) return m;
  r->ReadString(md, "name", JoinField(mf, "name"), &m.name);
  if (namespaced) r->ReadString(md, "namespace", JoinField(mf, "namespace"), &m.ns);
  r->SetObject(namespaced ? absl::StrCat(kind, " ", m.ns.empty() ? "default" : m.ns, "/", m.name)
                          : absl::StrCat(kind, " ", m.name));
  r->CheckKnownKeys(
      md, mf,
      {"name", "generateName", "namespace", "uid", "labels", "annotations", "resourceVersion",
       "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
       "ownerReferences", "finalizers", "managedFields", "selfLink"});
  r->CheckDuplicateKeys(doc, r->path_prefix());
  if (namespaced && m.ns.empty()) m.ns = "default";
  CheckMetaNames(r, md, mf, kind, namespaced, m);
  r->ReadString(md, "uid", JoinField(mf, "uid"), &m.uid);
  m.labels = ReadLabels(r, md, "labels", JoinField(mf, "labels"));
  m.annotations = ReadAnnotations(r, md, JoinField(mf, "annotations"));
  return m;
}

}  // namespace warden::policy
