#include "agent/policy/k8s_decode.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/policy/k8s_decode_core.h"
#include "agent/policy/k8s_decode_netpol.h"
#include "agent/policy/manifest_yaml.h"

namespace warden::policy {
namespace {

template <typename T>
void AddIfValid(std::optional<T> o, std::vector<DecodedObject>* out) {
  if (o) out->push_back(std::move(*o));
}

void DecodeByKind(ManifestReader* r, const YAML::Node& doc, const std::string& api_version,
                  const std::string& kind, DecodedFile* out) {
  if (kind == "Namespace" && api_version == "v1") {
    AddIfValid(DecodeNamespace(r, doc), &out->objects);
  } else if (kind == "Node" && api_version == "v1") {
    AddIfValid(DecodeNode(r, doc), &out->objects);
  } else if (kind == "Pod" && api_version == "v1") {
    AddIfValid(DecodePod(r, doc), &out->objects);
  } else if (kind == "NetworkPolicy" && api_version == "networking.k8s.io/v1") {
    AddIfValid(DecodeNetworkPolicy(r, doc), &out->objects);
  } else {
    out->notes.push_back(absl::StrCat(r->file(), ":", r->Line(doc), ": ignoring ", api_version, " ",
                                      kind, " (not a kind Warden reads)"));
  }
}

}  // namespace

DecodedFile DecodeManifestFile(const std::string& file, const std::string& content) {
  DecodedFile out;
  ManifestReader reader(file, &out.errors);
  ReadManifestObjects(
      content, &reader,
      [&](const YAML::Node& doc, const std::string& api_version, const std::string& kind) {
        DecodeByKind(&reader, doc, api_version, kind, &out);
      });
  if (!out.errors.empty()) out.objects.clear();
  return out;
}

std::string ObjectKey(const DecodedObject& o) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Namespace>) return "Namespace " + x.name;
        if constexpr (std::is_same_v<T, Node>) return "Node " + x.name;
        if constexpr (std::is_same_v<T, Pod>) return "Pod " + x.Key();
        if constexpr (std::is_same_v<T, NetworkPolicy>) return "NetworkPolicy " + x.Key();
      },
      o);
}

const SourceRef& SourceOf(const DecodedObject& o) {
  return std::visit([](const auto& x) -> const SourceRef& { return x.source; }, o);
}

}  // namespace warden::policy
