#include "agent/lab/lab_state.h"

#include <cstdio>
#include <fstream>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace warden::lab {

using nlohmann::json;

namespace {

// The item of `items` whose `field` is `value`, or null; const when `items` is.
template <typename Items, typename Field>
auto FindBy(Items& items, Field field, const std::string& value) -> decltype(&items[0]) {
  for (auto& x : items) {
    if (x.*field == value) return &x;
  }
  return nullptr;
}

}  // namespace

const LabNode* LabState::FindNode(const std::string& name) const {
  return FindBy(nodes, &LabNode::name, name);
}
LabNode* LabState::FindNode(const std::string& name) { return FindBy(nodes, &LabNode::name, name); }
const LabPod* LabState::FindPod(const std::string& key) const {
  return FindBy(pods, &LabPod::key, key);
}
LabGateway* LabState::FindGateway(const std::string& pod) {
  return FindBy(gateways, &LabGateway::pod, pod);
}

namespace {

// One key of a JSON object and the member it holds, for both directions.
template <typename T, typename M>
struct Field {
  const char* key;
  M T::*member;
};
template <typename T, typename M>
constexpr Field<T, M> F(const char* key, M T::*member) {
  return {key, member};
}

template <typename T, typename Fields>
void WriteFields(json& j, const T& v, const Fields& fields) {
  std::apply([&](const auto&... f) { ((j[f.key] = v.*f.member), ...); }, fields);
}
template <typename T, typename Fields>
void ReadFields(const json& j, T& v, const Fields& fields) {
  std::apply([&](const auto&... f) { (j.at(f.key).get_to(v.*f.member), ...); }, fields);
}

const auto kInternetFields =
    std::make_tuple(F("netns", &LabInternet::netns), F("cgroup", &LabInternet::cgroup),
                    F("hosts", &LabInternet::hosts));
const auto kNodeFields =
    std::make_tuple(F("name", &LabNode::name), F("netns", &LabNode::netns), F("ip", &LabNode::ip),
                    F("ip6", &LabNode::ip6), F("pool", &LabNode::pool),
                    F("cgroup", &LabNode::cgroup), F("system_cgroup", &LabNode::system_cgroup),
                    F("bpffs", &LabNode::bpffs), F("pod_cidrs", &LabNode::pod_cidrs));
// Present when the lab runs agents.
const auto kNodeAgentFields =
    std::make_tuple(F("metrics", &LabNode::metrics), F("agent_argv", &LabNode::agent_argv),
                    F("agent_pid", &LabNode::agent_pid));
const auto kPodFields =
    std::make_tuple(F("key", &LabPod::key), F("node", &LabPod::node), F("netns", &LabPod::netns),
                    F("cgroup", &LabPod::cgroup), F("ip", &LabPod::ip), F("ip6", &LabPod::ip6));
const auto kControlFields = std::make_tuple(
    F("netns", &LabControl::netns), F("address", &LabControl::address),
    F("metrics", &LabControl::metrics), F("argv", &LabControl::argv), F("pid", &LabControl::pid));
const auto kGatewayFields = std::make_tuple(
    F("pod", &LabGateway::pod), F("access_log", &LabGateway::access_log),
    F("metrics", &LabGateway::metrics), F("argv", &LabGateway::argv), F("pid", &LabGateway::pid));
const auto kStateFields = std::make_tuple(
    F("manifests", &LabState::manifests), F("lab_cgroup", &LabState::lab_cgroup),
    F("inet", &LabState::inet), F("nodes", &LabState::nodes), F("pods", &LabState::pods));

}  // namespace

void to_json(json& j, const LabInternet& v) { WriteFields(j, v, kInternetFields); }
void from_json(const json& j, LabInternet& v) { ReadFields(j, v, kInternetFields); }

void to_json(json& j, const LabNode& v) {
  WriteFields(j, v, kNodeFields);
  if (!v.agent_argv.empty()) WriteFields(j, v, kNodeAgentFields);
}
void from_json(const json& j, LabNode& v) {
  ReadFields(j, v, kNodeFields);
  if (j.contains("agent_argv")) ReadFields(j, v, kNodeAgentFields);
}

void to_json(json& j, const LabPod& v) {
  WriteFields(j, v, kPodFields);
  if (v.server_pid) j["server_pid"] = *v.server_pid;
}
void from_json(const json& j, LabPod& v) {
  ReadFields(j, v, kPodFields);
  if (j.contains("server_pid")) v.server_pid = j.at("server_pid").get<pid_t>();
}

void to_json(json& j, const LabControl& v) { WriteFields(j, v, kControlFields); }
void from_json(const json& j, LabControl& v) { ReadFields(j, v, kControlFields); }

void to_json(json& j, const LabGateway& v) { WriteFields(j, v, kGatewayFields); }
void from_json(const json& j, LabGateway& v) { ReadFields(j, v, kGatewayFields); }

void to_json(json& j, const LabState& v) {
  WriteFields(j, v, kStateFields);
  if (v.control) j["control"] = *v.control;
  if (!v.gateways.empty()) j["gateways"] = v.gateways;
  if (v.web_pid) j["web_pid"] = *v.web_pid;
}
void from_json(const json& j, LabState& v) {
  ReadFields(j, v, kStateFields);
  if (j.contains("control")) v.control = j.at("control").get<LabControl>();
  if (j.contains("gateways")) v.gateways = j.at("gateways").get<std::vector<LabGateway>>();
  if (j.contains("web_pid")) v.web_pid = j.at("web_pid").get<pid_t>();
}

absl::StatusOr<LabState> ReadLabState(const std::string& state_dir) {
  std::string path = state_dir + "/state.json";
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(
        absl::StrCat("no lab is up (", path, " missing): run `scripts/lab up`"));
  try {
    return json::parse(in).get<LabState>();
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": ", e.what()));
  }
}

absl::Status WriteLabState(const std::string& state_dir, const LabState& state) {
  std::string path = state_dir + "/state.json", tmp = path + ".tmp";
  std::ofstream out(tmp);
  out << json(state).dump(2) << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("writing ", tmp, " failed"));
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(absl::StrCat("renaming ", tmp, " to ", path, " failed"));
  return absl::OkStatus();
}

std::string LogPath(const std::string& state_dir, const std::string& name) {
  return absl::StrCat(state_dir, "/logs/", name);
}

}  // namespace warden::lab
