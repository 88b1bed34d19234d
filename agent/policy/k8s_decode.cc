#include "agent/policy/k8s_decode.h"

#include <optional>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "agent/policy/k8s_decode_core.h"
#include "agent/policy/k8s_decode_istio_networking.h"
#include "agent/policy/k8s_decode_istio_routing.h"
#include "agent/policy/k8s_decode_istio_security.h"
#include "agent/policy/k8s_decode_netpol.h"
#include "agent/policy/manifest_yaml.h"

namespace warden::policy {
namespace {

// The kinds Warden reads: their API groups and the versions it decodes. An object of such a
// kind and group in another version is an error, not a kind to pass over: ignoring a
// NetworkPolicy or a DENY AuthorizationPolicy would loosen enforcement. The same kind name in
// another group (Gateway API's gateway.networking.k8s.io Gateway) is another kind.
struct KindRead {
  absl::string_view kind;
  std::vector<absl::string_view> groups;
  std::vector<absl::string_view> api_versions;
};

const KindRead* FindKindRead(const std::string& kind, const std::string& api_version) {
  static const std::vector<absl::string_view> kIstioNetworking = {
      "networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"};
  static const std::vector<KindRead> kKinds = {
      {"Namespace", {""}, {"v1"}},
      {"Node", {""}, {"v1"}},
      {"Pod", {""}, {"v1"}},
      {"NetworkPolicy", {"networking.k8s.io", "extensions"}, {"networking.k8s.io/v1"}},
      {"ServiceEntry", {"networking.istio.io"}, kIstioNetworking},
      {"DestinationRule", {"networking.istio.io"}, kIstioNetworking},
      {"Gateway", {"networking.istio.io"}, kIstioNetworking},
      {"VirtualService", {"networking.istio.io"}, kIstioNetworking},
      {"Sidecar", {"networking.istio.io"}, kIstioNetworking},
      {"AuthorizationPolicy",
       {"security.istio.io"},
       {"security.istio.io/v1", "security.istio.io/v1beta1"}},
  };
  const size_t slash = api_version.find('/');
  const absl::string_view group = slash == std::string::npos
                                      ? absl::string_view()
                                      : absl::string_view(api_version).substr(0, slash);
  for (const KindRead& k : kKinds) {
    if (k.kind == kind && absl::c_linear_search(k.groups, group)) return &k;
  }
  return nullptr;
}

template <typename T>
void AddIfValid(std::optional<T> o, std::vector<DecodedObject>* out) {
  if (o) out->push_back(std::move(*o));
}

void DecodeByKind(ManifestReader* r, const YAML::Node& doc, const std::string& api_version,
                  const std::string& kind, DecodedFile* out) {
  const KindRead* read = FindKindRead(kind, api_version);
  if (!read) {
    ++out->ignored[absl::StrCat(api_version, " ", kind)];
    return;
  }
  if (!absl::c_linear_search(read->api_versions, api_version)) {
    const YAML::Node name = doc["metadata"]["name"];
    if (name && name.IsScalar()) r->SetObject(absl::StrCat(kind, " ", name.Scalar()));
    r->Fail(doc["apiVersion"], r->Field("apiVersion"),
            absl::StrCat(kind, " in ", api_version, " is not read (Warden reads ",
                         absl::StrJoin(read->api_versions, ", "),
                         "); refusing rather than ignoring it"));
    return;
  }
  if (kind == "Namespace") {
    AddIfValid(DecodeNamespace(r, doc), &out->objects);
  } else if (kind == "Node") {
    AddIfValid(DecodeNode(r, doc), &out->objects);
  } else if (kind == "Pod") {
    AddIfValid(DecodePod(r, doc), &out->objects);
  } else if (kind == "NetworkPolicy") {
    AddIfValid(DecodeNetworkPolicy(r, doc), &out->objects);
  } else if (kind == "ServiceEntry") {
    AddIfValid(DecodeServiceEntry(r, doc, &out->notes), &out->objects);
  } else if (kind == "DestinationRule") {
    AddIfValid(DecodeDestinationRule(r, doc), &out->objects);
  } else if (kind == "AuthorizationPolicy") {
    AddIfValid(DecodeAuthorizationPolicy(r, doc, &out->notes), &out->objects);
  } else {  // Gateway, VirtualService, Sidecar
    const int before = r->error_count();
    CheckUnusedIstioKind(r, doc, kind);
    if (r->error_count() == before)
      out->notes.push_back(absl::StrCat(r->file(), ":", r->Line(doc), ": ", api_version, " ", kind,
                                        " read; not needed: the node agents send egress to "
                                        "warden's gateway without Istio routes, and it changes "
                                        "no verdict"));
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
        if constexpr (std::is_same_v<T, ServiceEntry>) return "ServiceEntry " + x.Key();
        if constexpr (std::is_same_v<T, DestinationRule>) return "DestinationRule " + x.Key();
        if constexpr (std::is_same_v<T, AuthorizationPolicy>)
          return "AuthorizationPolicy " + x.Key();
      },
      o);
}

const SourceRef& SourceOf(const DecodedObject& o) {
  return std::visit([](const auto& x) -> const SourceRef& { return x.source; }, o);
}

}  // namespace warden::policy
