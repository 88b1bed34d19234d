// What several kinds share when decoded from manifests: object metadata, labels, protocols,
// addresses, port numbers, and the API server's wording for invalid values.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/policy/labels.h"
#include "agent/policy/manifest_yaml.h"
#include "agent/policy/objects.h"

namespace warden::policy {

// "Invalid value: \"value\": why".
std::string InvalidValue(const std::string& value, const std::string& why);
// "Invalid value: <what the parser said>".
std::string InvalidValue(const absl::Status& status);
// "Invalid value: N: must be between 1 and 65535, inclusive".
std::string PortOutOfRange(int64_t port);

// Reports `value` at `at` when `check` (from k8s_names.h) finds it invalid; true when valid.
bool CheckName(ManifestReader* r, const YAML::Node& at, const std::string& field,
               const std::string& value, std::string (*check)(const std::string&));

// The value of `parsed` (ParseIp, ParseCidr), or nullopt after reporting it invalid at `at`.
template <typename T>
std::optional<T> ValueOrReport(ManifestReader* r, absl::StatusOr<T> parsed, const YAML::Node& at,
                               const std::string& field) {
  if (parsed.ok()) return *std::move(parsed);
  r->Fail(at, field, InvalidValue(parsed.status()));
  return std::nullopt;
}

template <typename T>
void AppendUnique(const T& value, std::vector<T>* out) {
  if (std::find(out->begin(), out->end(), value) == out->end()) out->push_back(value);
}

// `parent.protocol`: TCP when absent; nullopt (reported) when not a protocol Kubernetes knows.
std::optional<Protocol> ReadProtocol(ManifestReader* r, const YAML::Node& parent,
                                     const std::string& field);

// A map of strings (map[string]string in the API): each value a string (a plain `true` or `1` is
// refused, as the API server's decoder does), each key checked by `check_key` and each value by
// `check_value` when given. `what` names the values in messages ("label").
std::map<std::string, std::string> ReadStringMap(ManifestReader* r, const YAML::Node& n,
                                                 const std::string& field, const char* what,
                                                 std::string (*check_key)(const std::string&),
                                                 std::string (*check_value)(const std::string&));

// A label map (metadata.labels, matchLabels): keys qualified names, values label values, and
// values strings (a plain `true` or `1` is refused, as the API server does).
Labels ReadLabels(ManifestReader* r, const YAML::Node& parent, const char* key,
                  const std::string& field);

struct ObjectMeta {
  std::string name, ns, uid;  // ns: "default" when a namespaced object names none
  Labels labels;
  Labels annotations;
};

// `metadata` of an object of `kind`, validated (names, known keys, and no key repeated anywhere
// in the document); names the object in `r` for the errors that follow.
ObjectMeta ReadMeta(ManifestReader* r, const YAML::Node& doc, const std::string& kind,
                    bool namespaced);

// What decoding every kind shares: the metadata, then `fill(meta, &object)` for the rest; the
// object with its source, or nullopt when anything about it was reported invalid.
template <typename T, typename Fill>
std::optional<T> DecodeObject(ManifestReader* r, const YAML::Node& doc, const std::string& kind,
                              bool namespaced, const Fill& fill) {
  int before = r->error_count();
  ObjectMeta meta = ReadMeta(r, doc, kind, namespaced);
  T object;
  fill(meta, &object);
  if (r->error_count() != before) return std::nullopt;
  object.source = r->Source();
  return object;
}

}  // namespace warden::policy
