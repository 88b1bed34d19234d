#include "agent/lab/lab_network.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab_shell.h"
#include "agent/policy/ip.h"

namespace warden::lab {
namespace {

constexpr char kFabricNetns[] = "wl-fabric";
constexpr char kNetnsPrefix[] = "wl-";
// Where a pod's default routes point: its node answers for the IPv4 one by proxy ARP and holds
// the IPv6 one on its end of the pod's veth.
constexpr char kPodGateway[] = "169.254.1.1";
constexpr char kPodGateway6[] = "fe80::1";

// A namespace whose interfaces (all created or moved in later) skip duplicate address
// detection: an IPv6 address stays unusable ("tentative") for about a second without this.
absl::Status AddNetns(const std::string& ns) {
  return ShAll({absl::StrCat("ip netns add ", ns), absl::StrCat("ip -n ", ns, " link set lo up"),
                absl::StrCat("ip netns exec ", ns,
                             " sysctl -qw net.ipv6.conf.all.accept_dad=0 "
                             "net.ipv6.conf.default.accept_dad=0")});
}

// A veth pair: `outer` in namespace `outer_ns`, its peer as eth0 in `inner_ns`.
absl::Status AddVeth(const std::string& outer, const std::string& outer_ns,
                     const std::string& inner_ns) {
  return ShAll({absl::StrCat("ip link add ", outer, " type veth peer name ", outer, "c"),
                absl::StrCat("ip link set ", outer, " netns ", outer_ns),
                absl::StrCat("ip link set ", outer, "c netns ", inner_ns, " name eth0")});
}

// A new namespace `ns` on the fabric: its eth0 at `ip`/24 (and `ip6`/64 when given), the other
// end `veth` on the bridge.
absl::Status JoinFabric(const std::string& ns, const std::string& veth, const std::string& ip,
                        const std::string& ip6 = "") {
  WD_RETURN_IF_ERROR(AddNetns(ns));
  WD_RETURN_IF_ERROR(AddVeth(veth, kFabricNetns, ns));
  WD_RETURN_IF_ERROR(
      ShAll({absl::StrCat("ip -n ", kFabricNetns, " link set ", veth, " master br0 up"),
             absl::StrCat("ip -n ", ns, " addr add ", ip, "/24 dev eth0"),
             absl::StrCat("ip -n ", ns, " link set eth0 up")}));
  if (ip6.empty()) return absl::OkStatus();
  return Sh("ip -n ", ns, " addr add ", ip6, "/64 dev eth0");
}

// `prefix` (a CIDR, or an address for its host prefix) is reached via `v4` or `v6`, whichever is
// of its family.
absl::Status RouteVia(const std::string& ns, const std::string& prefix, const std::string& v4,
                      const std::string& v6) {
  bool is_v6 = prefix.find(':') != std::string::npos;
  return Sh("ip -n ", ns, " route add ", prefix, " via ", is_v6 ? v6 : v4);
}

// The cluster addresses `node` holds: its podCIDRs, and the addresses of its pods outside them.
std::vector<std::string> NodePrefixes(const LabState& lab, const LabNode& node) {
  std::vector<policy::Cidr> cidrs;
  for (const auto& c : node.pod_cidrs) {
    if (auto cidr = policy::ParseCidr(c); cidr.ok()) cidrs.push_back(*cidr);
  }
  std::vector<std::string> out = node.pod_cidrs;
  for (const auto& pod : lab.pods) {
    if (pod.node != node.name) continue;
    for (const std::string* a : {&pod.ip, &pod.ip6}) {
      auto ip = policy::ParseIp(*a);
      if (!ip.ok()) continue;  // "" when the pod has no address of that family
      if (std::none_of(cidrs.begin(), cidrs.end(),
                       [&](const policy::Cidr& c) { return c.Contains(*ip); }))
        out.push_back(policy::HostPrefix(*ip).ToString());
    }
  }
  return out;
}

}  // namespace

std::string NodeNetns(size_t index) { return absl::StrCat("wl-node-", index); }
std::string NodeFabricIp(size_t index) { return absl::StrCat("10.10.0.", 11 + index); }
std::string NodeFabricIp6(size_t index) { return absl::StrCat("fd00:10:10::", 11 + index); }
std::string PodNetns(size_t index) { return absl::StrCat("wl-pod-", index); }

absl::Status MakeFabric() {
  WD_RETURN_IF_ERROR(AddNetns(kFabricNetns));
  return ShAll({absl::StrCat("ip -n ", kFabricNetns, " link add br0 type bridge"),
                absl::StrCat("ip -n ", kFabricNetns, " link set br0 up")});
}

absl::Status MakeInternet(const LabInternet& inet) {
  WD_RETURN_IF_ERROR(JoinFabric(inet.netns, "wlinet", kRouterIp, kRouterIp6));
  for (const auto& h : inet.hosts)  // no prefix length: /32 or /128
    WD_RETURN_IF_ERROR(Sh("ip -n ", inet.netns, " addr add ", h, " dev lo"));
  return absl::OkStatus();
}

absl::Status MakeNode(size_t index, const LabNode& node) {
  const std::string& ns = node.netns;
  WD_RETURN_IF_ERROR(JoinFabric(ns, absl::StrCat("wln", index), node.ip, node.ip6));
  return ShAll(
      {absl::StrCat("ip -n ", ns, " route add default via ", kRouterIp),
       absl::StrCat("ip -n ", ns, " route add default via ", kRouterIp6),
       absl::StrCat("ip netns exec ", ns,
                    " sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
                    "net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.all.forwarding=1"),
       absl::StrCat("ip -n ", ns, " addr add 169.254.169.254/32 dev lo")});  // metadata server
}

absl::Status RouteToPods(const LabState& lab, const std::string& netns) {
  for (const auto& b : lab.nodes) {
    for (const auto& prefix : NodePrefixes(lab, b)) {
      if (prefix.find(':') != std::string::npos) continue;  // the control plane is IPv4 only
      WD_RETURN_IF_ERROR(RouteVia(netns, prefix, b.ip, b.ip6));
    }
  }
  return absl::OkStatus();
}

absl::Status RouteClusterAddresses(const LabState& lab) {
  for (const auto& b : lab.nodes) {
    for (const auto& prefix : NodePrefixes(lab, b)) {
      WD_RETURN_IF_ERROR(RouteVia(lab.inet.netns, prefix, b.ip, b.ip6));
      for (const auto& a : lab.nodes) {
        if (a.name != b.name) WD_RETURN_IF_ERROR(RouteVia(a.netns, prefix, b.ip, b.ip6));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status MakePod(size_t index, const LabPod& pod, const LabNode& node) {
  std::string veth = absl::StrCat("wlp", index);
  WD_RETURN_IF_ERROR(AddNetns(pod.netns));
  WD_RETURN_IF_ERROR(AddVeth(veth, node.netns, pod.netns));
  WD_RETURN_IF_ERROR(ShAll({absl::StrCat("ip -n ", pod.netns, " link set eth0 up"),
                            absl::StrCat("ip -n ", node.netns, " link set ", veth, " up")}));
  if (!pod.ip.empty()) {
    WD_RETURN_IF_ERROR(ShAll({
        absl::StrCat("ip -n ", pod.netns, " addr add ", pod.ip, "/32 dev eth0"),
        absl::StrCat("ip -n ", pod.netns, " route add ", kPodGateway, " dev eth0 scope link"),
        absl::StrCat("ip -n ", pod.netns, " route add default via ", kPodGateway, " dev eth0"),
        // Proxy ARP answers the pod's gateway; without proxy_delay=0 the kernel delays those
        // answers by up to 0.8 s.
        absl::StrCat("ip netns exec ", node.netns, " sysctl -qw net.ipv4.conf.", veth,
                     ".proxy_arp=1 net.ipv4.neigh.", veth, ".proxy_delay=0"),
        // Host processes reach their pods from the node's own address (as on a real node), not
        // from the metadata address on lo.
        absl::StrCat("ip -n ", node.netns, " route add ", pod.ip, "/32 dev ", veth, " src ",
                     node.ip),
    }));
  }
  if (!pod.ip6.empty()) {
    WD_RETURN_IF_ERROR(ShAll({
        absl::StrCat("ip -n ", pod.netns, " addr add ", pod.ip6, "/128 dev eth0"),
        absl::StrCat("ip -n ", node.netns, " addr add ", kPodGateway6, "/64 dev ", veth),
        absl::StrCat("ip -n ", pod.netns, " route add default via ", kPodGateway6, " dev eth0"),
        absl::StrCat("ip -n ", node.netns, " route add ", pod.ip6, "/128 dev ", veth, " src ",
                     node.ip6),
    }));
  }
  return absl::OkStatus();
}

absl::Status MakeControlNetns() { return JoinFabric(kControlNetns, "wlctl", kControlIp); }

void DeleteLabNetns() {
  std::vector<std::string> lab_netns;  // listed first: deleting changes the directory
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/var/run/netns", ec)) {
    std::string ns = e.path().filename().string();
    if (ns.starts_with(kNetnsPrefix)) lab_netns.push_back(ns);
  }
  for (const auto& ns : lab_netns) Sh("ip netns del ", ns).IgnoreError();
}

}  // namespace warden::lab
