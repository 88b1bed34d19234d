// `warden inspect`: the datapath state an agent pinned under its bpffs directory, read
// straight from the kernel: configuration, attach points, endpoints, ipcache, policy, lockdown
// and counters. With --manifests, identity numbers are shown with what they stand for.
#include <arpa/inet.h>

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <map>
#include <string_view>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/status_macros.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/port_sets.h"

namespace warden::cli {

namespace po = boost::program_options;
using nlohmann::json;

namespace {

std::string Prefix(const wd_ipcache_key& k) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(k.family == WD_AF_INET ? AF_INET : AF_INET6, k.addr, buf, sizeof(buf));
  return absl::StrCat(buf, "/", k.prefixlen - WD_IPCACHE_PREFIX_BASE);
}

std::string Ports(const datapath::NodeTables& t, const wd_policy_value& v) {
  const std::vector<wd_portset>& sets = t.portsets;
  std::string out;
  for (policy::Protocol p : policy::kProtocols) {
    const char* name = policy::ProtocolName(p);
    uint16_t id = v.portset[policy::L4Index(p)];
    if (id == WD_PORTSET_EMPTY) continue;
    if (!out.empty()) out += " ";
    if (id == WD_PORTSET_ALL) {
      absl::StrAppend(&out, name, "/*");
      continue;
    }
    if (id >= sets.size()) {
      absl::StrAppend(&out, name, "/set#", id);
      continue;
    }
    std::string ranges = absl::StrJoin(policy::KernelPortsetRanges(sets[id], t.portranges), ",",
                                       [](std::string* s, const policy::PortRange& r) {
                                         absl::StrAppend(s, r.first);
                                         if (r.second != r.first) absl::StrAppend(s, "-", r.second);
                                       });
    absl::StrAppend(&out, name, "/", ranges);
  }
  if (v.flags & WD_POLICY_OTHER_L4) out += out.empty() ? "other-L4" : " other-L4";
  return out.empty() ? "-" : out;
}

// What inspect shows: the pinned state, and names for identity numbers.
struct Inspected {
  datapath::PinnedState ps;
  std::map<uint32_t, std::string> names = {{WD_ID_HOST, "host"},
                                           {WD_ID_WORLD, "world"},
                                           {WD_ID_CLUSTER, "cluster"},
                                           {WD_ID_LOCAL_HOST, "this node"}};
  bool entries = false;  // every policy entry, not only counts

  std::string NameOf(uint32_t id) const {
    auto it = names.find(id);
    return it == names.end() ? std::string() : it->second;
  }
  std::map<uint32_t, size_t> EntriesPerLocal() const {
    std::map<uint32_t, size_t> n;
    for (const auto& [k, v] : ps.live.policy) ++n[k.v.local_identity];
    return n;
  }
  template <typename Fn>  // fn(hook, reason, count) for every counter that is not 0
  void ForEachCounter(Fn fn) const {
    for (uint8_t h = 0; h < WD_HOOK_COUNT; ++h) {
      for (uint8_t r = 0; r < WD_REASON_COUNT; ++r) {
        if (uint64_t n = ps.counters[h * WD_REASON_COUNT + r]) fn(h, r, n);
      }
    }
  }
};

const char* PoolName(uint8_t pool) { return pool == WD_POOL_GATEWAY ? "gateway" : "default"; }
const char* UnknownPodName(uint8_t u) { return u == WD_UNKNOWN_POD_ALLOW ? "allow" : "deny"; }

// The node forwarder's part of the configuration (docs/forwarder.md): where pods' world-bound
// connects go, on which ports, and the gateway their policy is asked about; "" when none.
std::string ForwarderText(const wd_config& c, json* j) {
  if (!c.fwd_port) return "";
  char ip[INET6_ADDRSTRLEN];
  inet_ntop(AF_INET, c.fwd_addr, ip, sizeof(ip));
  std::string listen = absl::StrCat(ip, ":", c.fwd_port);
  std::vector<uint16_t> ports;
  for (uint16_t p : c.fwd_world_ports)
    if (p) ports.push_back(p);
  std::string gateway = "none known (connects refused)";
  if (c.gw_family) {
    inet_ntop(c.gw_family == WD_AF_INET ? AF_INET : AF_INET6, c.gw_addr, ip, sizeof(ip));
    gateway = absl::StrCat(ip, ":", c.gw_port);
  }
  (*j)["listen"] = listen;
  (*j)["world_ports"] = ports;
  (*j)["gateway"] = c.gw_family ? gateway : "";
  return absl::StrCat(listen, " takes world ports ", absl::StrJoin(ports, ","),
                      "; policy asked about gateway ", gateway);
}

json ConfigAndLinksJson(const Inspected& in) {
  const wd_config& c = in.ps.config;
  json j;
  j["config"] = {{"generation", c.generation},
                 {"active", c.active ? "b" : "a"},
                 {"configured", c.configured != 0},
                 {"pool", PoolName(c.pool)},
                 {"unknown_pod", UnknownPodName(c.unknown_pod)},
                 {"kubepods_cgroup_id", c.kubepods_cgroup_id},
                 {"kubepods_level", c.kubepods_level}};
  json fwd = json::object();
  ForwarderText(c, &fwd);
  j["config"]["forwarder"] = fwd;
  for (const auto& l : in.ps.links) {
    j["attach"].push_back({{"program", l.name},
                           {"attached", l.link_id != 0},
                           {"link_id", l.link_id},
                           {"prog_id", l.prog_id},
                           {"attach_type", datapath::AttachTypeName(l.attach_type)},
                           {"cgroup_id", l.cgroup_id}});
  }
  return j;
}

void AddTablesJson(const Inspected& in, json* j) {
  const datapath::NodeTables& t = in.ps.live;
  (*j)["endpoints"] = json::array();
  for (const auto& [cg, e] : t.endpoints) {
    (*j)["endpoints"].push_back({{"cgroup_id", cg},
                                 {"identity", e.identity},
                                 {"name", in.NameOf(e.identity)},
                                 {"isolated_ingress", (e.isolated & WD_ISOLATED_INGRESS) != 0},
                                 {"isolated_egress", (e.isolated & WD_ISOLATED_EGRESS) != 0},
                                 {"gateway", (e.flags & WD_EP_GATEWAY) != 0}});
  }
  (*j)["ipcache"] = json::array();
  for (const auto& [k, v] : t.ipcache) {
    (*j)["ipcache"].push_back({{"prefix", Prefix(k.v)},
                               {"identity", v.identity},
                               {"cidr_identity", v.cidr_identity},
                               {"ns_identity", v.ns_identity},
                               {"name", in.NameOf(v.identity)}});
  }
  (*j)["policy"] = {{"entries", t.policy.size()}, {"capacity", in.ps.capacity.policy}};
  for (const auto& [id, n] : in.EntriesPerLocal())
    (*j)["policy"]["by_local_identity"][std::to_string(id)] = n;
  if (in.entries) {
    for (const auto& [k, v] : t.policy) {
      (*j)["policy"]["list"].push_back(
          {{"local", k.v.local_identity},
           {"remote", k.v.remote_identity},
           {"direction", k.v.direction == WD_DIR_EGRESS ? "egress" : "ingress"},
           {"ports", Ports(t, v)}});
    }
  }
  (*j)["lockdown"] = json::array();
  for (const auto& [k, v] : t.lockdown)
    (*j)["lockdown"].push_back({{"prefix", Prefix(k.v)}, {"ports", Ports(t, v)}});
}

json InspectJson(const Inspected& in) {
  json j = ConfigAndLinksJson(in);
  AddTablesJson(in, &j);
  j["conntrack_entries"] = in.ps.conntrack_entries;
  j["verdict_cache_entries"] = in.ps.verdict_cache_entries;
  in.ForEachCounter([&](uint8_t h, uint8_t r, uint64_t n) {
    j["counters"][datapath::HookName(h)][datapath::ReasonName(r)] = n;
  });
  return j;
}

void PrintConfigAndLinks(const Inspected& in, std::ostream& out) {
  const wd_config& c = in.ps.config;
  out << "config     generation " << c.generation << ", live copy " << (c.active ? "b" : "a")
      << ", pool " << PoolName(c.pool) << ", unknown pods " << UnknownPodName(c.unknown_pod)
      << ", kubepods cgroup " << c.kubepods_cgroup_id << " (level " << c.kubepods_level << ")"
      << (c.configured ? "" : "  NOT CONFIGURED: everything is dropped") << "\n";
  json unused;
  std::string fwd = ForwarderText(c, &unused);
  out << "forwarder  " << (fwd.empty() ? "none (world-bound connects refused)" : fwd) << "\n\n";
  out << "attach points\n";
  out << "  " << std::left << std::setw(17) << "program" << std::setw(26) << "attach type"
      << std::setw(12) << "cgroup id" << std::setw(9) << "link id"
      << "prog id\n";
  for (const auto& l : in.ps.links) {
    out << "  " << std::setw(17) << l.name;
    if (!l.link_id) {
      out << "(not attached)\n";
      continue;
    }
    out << std::setw(26) << datapath::AttachTypeName(l.attach_type) << std::setw(12) << l.cgroup_id
        << std::setw(9) << l.link_id << l.prog_id << "\n";
  }
}

void PrintEndpointsAndIpcache(const Inspected& in, std::ostream& out) {
  const datapath::NodeTables& t = in.ps.live;
  out << "\nendpoints (" << t.endpoints.size() << " of " << in.ps.capacity.endpoints << ")\n";
  out << "  " << std::setw(12) << "cgroup id" << std::setw(11) << "identity" << std::setw(10)
      << "isolated"
      << "name\n";
  std::map<uint64_t, wd_endpoint> by_cgroup;  // in cgroup order, not the table's hash order
  for (const auto& [cg, e] : t.endpoints) by_cgroup[cg] = e;
  for (const auto& [cg, e] : by_cgroup) {
    std::string iso = std::string(e.isolated & WD_ISOLATED_INGRESS ? "I" : "-") +
                      (e.isolated & WD_ISOLATED_EGRESS ? "E" : "-") +
                      (e.flags & WD_EP_GATEWAY ? " gw" : "");
    out << "  " << std::setw(12) << cg << std::setw(11) << e.identity << std::setw(10) << iso
        << in.NameOf(e.identity) << "\n";
  }
  out << "\nipcache (" << t.ipcache.size() << " of " << in.ps.capacity.ipcache << ")\n";
  out << "  " << std::setw(22) << "prefix" << std::setw(11) << "identity" << std::setw(11)
      << "cidr id" << std::setw(11) << "ns id"
      << "name\n";
  std::map<std::string, wd_ipcache_value> sorted;
  for (const auto& [k, v] : t.ipcache) sorted[Prefix(k.v)] = v;
  for (const auto& [p, v] : sorted) {
    out << "  " << std::setw(22) << p << std::setw(11) << v.identity << std::setw(11)
        << v.cidr_identity << std::setw(11)
        << (v.ns_identity ? std::to_string(v.ns_identity) : std::string("-"))
        << in.NameOf(v.identity) << "\n";
  }
}

void PrintPolicyAndRest(const Inspected& in, std::ostream& out) {
  const datapath::NodeTables& t = in.ps.live;
  out << "\npolicy (" << t.policy.size() << " entries of " << in.ps.capacity.policy << ")\n";
  for (const auto& [id, n] : in.EntriesPerLocal())
    out << "  local identity " << id << " " << in.NameOf(id) << ": " << n << " entries\n";
  if (in.entries) {
    for (const auto& [k, v] : t.policy) {
      out << "  " << (k.v.direction == WD_DIR_EGRESS ? "egress  " : "ingress ")
          << k.v.local_identity << " <-> " << k.v.remote_identity << "  " << Ports(t, v) << "\n";
    }
  }
  out << "\nlockdown allowances (" << t.lockdown.size() << ")\n";
  std::map<std::string, std::string> allowances;  // by prefix: the table's order is its hash's
  for (const auto& [k, v] : t.lockdown) allowances[Prefix(k.v)] = Ports(t, v);
  for (const auto& [prefix, ports] : allowances)
    out << "  " << std::setw(22) << prefix << ports << "\n";
  out << "\nconntrack  " << in.ps.conntrack_entries << " flows (UDP, ICMP, ...)\n"
      << "verdicts   " << in.ps.verdict_cache_entries
      << " cached (pod, peer, port) verdicts\n\ncounters\n";
  size_t hook_width = 0, reason_width = 0;  // columns as wide as the longest name, plus two
  in.ForEachCounter([&](uint8_t h, uint8_t r, uint64_t) {
    hook_width = std::max(hook_width, std::string_view(datapath::HookName(h)).size() + 2);
    reason_width = std::max(reason_width, std::string_view(datapath::ReasonName(r)).size() + 2);
  });
  in.ForEachCounter([&](uint8_t h, uint8_t r, uint64_t n) {
    out << "  " << std::setw(hook_width) << datapath::HookName(h) << std::setw(reason_width)
        << datapath::ReasonName(r) << n << "\n";
  });
}

// Names for the identity numbers, from the manifests (compiled as the agents compile them).
absl::Status NameIdentities(const std::string& manifests, Inspected* in) {
  auto loaded = policy::LoadManifestDir(manifests);
  policy::CompileOptions co;
  co.limits = policy::TableLimits::None();
  WD_ASSIGN_OR_RETURN(policy::Snapshot snap, policy::Compile(loaded.state, co));
  for (const auto& id : snap.identities) in->names[id.id] = id.name;
  return absl::OkStatus();
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  std::string bpffs, manifests, output = "text";
  Inspected in;
  po::options_description desc("warden inspect: the datapath state pinned by an agent\n\noptions");
  desc.add_options()("help,h", "show this help")("bpffs", po::value(&bpffs),
                                                 "the agent's --bpffs directory")(
      "manifests", po::value(&manifests), "name identities from these manifests")(
      "entries", po::bool_switch(&in.entries), "list every policy entry, not only counts")(
      "output,o", po::value(&output)->default_value("text"), "text or json");
  po::variables_map vm;
  if (auto done = ParseFlags("inspect", desc, args, &vm)) return *done;
  if (bpffs.empty()) return BadInput("inspect", "--bpffs DIR is required");
  if (output != "text" && output != "json")
    return BadInput("inspect", "--output must be text or json");
  auto ps = datapath::ReadPinnedState(bpffs);
  if (!ps.ok()) return BadInput("inspect", std::string(ps.status().message()));
  in.ps = std::move(*ps);
  if (!manifests.empty()) {
    if (auto st = NameIdentities(manifests, &in); !st.ok())
      return BadInput("inspect", "--manifests: " + std::string(st.message()));
  }
  if (output == "json") {
    std::cout << InspectJson(in).dump(2) << "\n";
    return 0;
  }
  PrintConfigAndLinks(in, std::cout);
  PrintEndpointsAndIpcache(in, std::cout);
  PrintPolicyAndRest(in, std::cout);
  return 0;
}

}  // namespace warden::cli
