#include "agent/kube/api_objects.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace warden::kube {

using nlohmann::json;

namespace {

constexpr char kLastApplied[] = "kubectl.kubernetes.io/last-applied-configuration";

std::string StringAt(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// Of a container, what the decoder reads.
json ContainerPart(const json& c) {
  json out = json::object();
  if (!c.is_object()) return c;  // left for the decoder to report
  for (const char* k : {"name", "ports"})
    if (auto it = c.find(k); it != c.end()) out[k] = *it;
  return out;
}

// A Pod's spec and status reduced to what the decoder reads.
void ReducePod(json* pod) {
  if (auto spec = pod->find("spec"); spec != pod->end() && spec->is_object()) {
    json kept = json::object();
    for (const char* k : {"serviceAccountName", "serviceAccount", "nodeName", "hostNetwork"})
      if (auto it = spec->find(k); it != spec->end()) kept[k] = *it;
    for (const char* k : {"containers", "initContainers", "ephemeralContainers"}) {
      auto it = spec->find(k);
      if (it == spec->end()) continue;
      if (!it->is_array()) {
        kept[k] = *it;
        continue;
      }
      json list = json::array();
      for (const auto& c : *it) list.push_back(ContainerPart(c));
      kept[k] = std::move(list);
    }
    *spec = std::move(kept);
  }
  if (auto status = pod->find("status"); status != pod->end() && status->is_object()) {
    json kept = json::object();
    for (const char* k : {"podIP", "podIPs"})
      if (auto it = status->find(k); it != status->end()) kept[k] = *it;
    *status = std::move(kept);
  }
}

bool PodEnded(const json& pod) {
  auto status = pod.find("status");
  if (status == pod.end() || !status->is_object()) return false;
  std::string phase = StringAt(*status, "phase");
  return phase == "Succeeded" || phase == "Failed";
}

// `obj` as an ApiObject of `r`; `api_version` fills a missing apiVersion (list items).
absl::StatusOr<ApiObject> ToObject(const Resource& r, const std::string& gv, json obj,
                                   std::string* resource_version) {
  if (!obj.is_object()) return absl::InvalidArgumentError("an object that is not a JSON object");
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object())
    return absl::InvalidArgumentError(absl::StrCat("a ", r.kind, " without metadata"));
  std::string name = StringAt(*md, "name"), ns = StringAt(*md, "namespace");
  if (name.empty())
    return absl::InvalidArgumentError(absl::StrCat("a ", r.kind, " without metadata.name"));
  if (r.namespaced && ns.empty())
    return absl::InvalidArgumentError(
        absl::StrCat(r.kind, " ", name, " without metadata.namespace"));
  if (resource_version) *resource_version = StringAt(*md, "resourceVersion");
  ApiObject out{ObjectPath(r, gv, ns, name), nullptr};
  if (r.kind == "Pod" && PodEnded(obj)) return out;
  if (!obj.contains("apiVersion")) obj["apiVersion"] = gv;
  if (!obj.contains("kind")) obj["kind"] = r.kind;
  md->erase("managedFields");
  if (auto a = md->find("annotations"); a != md->end() && a->is_object()) a->erase(kLastApplied);
  if (r.kind == "Pod") ReducePod(&obj);
  out.text = std::make_shared<const std::string>(obj.dump());
  return out;
}

absl::StatusOr<json> ParseJson(std::string_view text, const char* what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not JSON: ", std::string(text.substr(0, 120))));
  if (!j.is_object()) return absl::InvalidArgumentError(absl::StrCat(what, " is not an object"));
  return j;
}

}  // namespace

absl::StatusOr<ListPage> ParseListPage(const Resource& r, const std::string& gv,
                                       std::string_view body) {
  auto j = ParseJson(body, "the list");
  if (!j.ok()) return j.status();
  ListPage page;
  if (auto md = j->find("metadata"); md != j->end() && md->is_object()) {
    page.resource_version = StringAt(*md, "resourceVersion");
    page.continue_token = StringAt(*md, "continue");
  }
  if (page.resource_version.empty())
    return absl::InvalidArgumentError("the list has no metadata.resourceVersion");
  auto items = j->find("items");
  if (items == j->end() || items->is_null()) return page;  // an empty list may omit items
  if (!items->is_array()) return absl::InvalidArgumentError("the list's items is not a list");
  for (size_t i = 0; i < items->size(); ++i) {
    auto o = ToObject(r, gv, std::move((*items)[i]), nullptr);
    if (!o.ok())
      return absl::InvalidArgumentError(absl::StrCat("items[", i, "]: ", o.status().message()));
    page.objects.push_back(std::move(*o));
  }
  return page;
}

absl::StatusOr<WatchEvent> ParseWatchEvent(const Resource& r, const std::string& gv,
                                           std::string_view line) {
  auto j = ParseJson(line, "the event");
  if (!j.ok()) return j.status();
  std::string type = StringAt(*j, "type");
  auto obj = j->find("object");
  if (obj == j->end() || !obj->is_object())
    return absl::InvalidArgumentError(
        absl::StrCat("a ", type.empty() ? "typeless" : type, " event without an object"));
  WatchEvent e;
  if (type == "ERROR") {
    e.type = WatchEvent::Type::kError;
    if (auto c = obj->find("code"); c != obj->end() && c->is_number_integer()) e.error_code = *c;
    e.error_message = DescribeErrorBody(obj->dump());
    return e;
  }
  if (type == "BOOKMARK") {
    e.type = WatchEvent::Type::kBookmark;
    auto md = obj->find("metadata");
    if (md == obj->end() || !md->is_object())
      return absl::InvalidArgumentError("a BOOKMARK without metadata");
    e.resource_version = StringAt(*md, "resourceVersion");
    if (e.resource_version.empty())
      return absl::InvalidArgumentError("a BOOKMARK without metadata.resourceVersion");
    if (auto a = md->find("annotations"); a != md->end() && a->is_object())
      e.initial_events_end = StringAt(*a, "k8s.io/initial-events-end") == "true";
    return e;
  }
  if (type == "ADDED") {
    e.type = WatchEvent::Type::kAdded;
  } else if (type == "MODIFIED") {
    e.type = WatchEvent::Type::kModified;
  } else if (type == "DELETED") {
    e.type = WatchEvent::Type::kDeleted;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("an event of unknown type \"", type, "\""));
  }
  if (std::string k = StringAt(*obj, "kind"); !k.empty() && k != r.kind)
    return absl::InvalidArgumentError(absl::StrCat("a ", k, " in the watch of ", r.kind, "s"));
  auto o = ToObject(r, gv, std::move(*obj), &e.resource_version);
  if (!o.ok()) return o.status();
  e.object = std::move(*o);
  if (e.type == WatchEvent::Type::kDeleted) e.object.text = nullptr;
  return e;
}

std::string DescribeErrorBody(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && StringAt(j, "kind") == "Status") {
    std::string out;
    if (auto c = j.find("code"); c != j.end() && c->is_number_integer())
      out = absl::StrCat(c->get<int>(), " ");
    return absl::StrCat(out, StringAt(j, "reason"), ": ", StringAt(j, "message"));
  }
  return std::string(body.substr(0, 200));
}

}  // namespace warden::kube
