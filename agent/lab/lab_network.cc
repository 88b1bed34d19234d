#include "agent/lab/lab_network.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab_shell.h"

namespace warden::lab {
namespace {

constexpr char kFabricNetns[] = "wl-fabric";
constexpr char kNetnsPrefix[] = "wl-";
// Where a pod's default route points; its node answers by proxy ARP.
constexpr char kPodGateway[] = "169.254.1.1";

absl::Status AddNetns(const std::string& ns) {
  return ShAll({absl::StrCat("ip netns add ", ns), absl::StrCat("ip -n ", ns, " link set lo up")});
}

// A veth pair: `outer` in namespace `outer_ns`, its peer as eth0 in `inner_ns`.
absl::Status AddVeth(const std::string& outer, const std::string& outer_ns,
                     const std::string& inner_ns) {
  return ShAll({absl::StrCat("ip link add ", outer, " type veth peer name ", outer, "c"),
                absl::StrCat("ip link set ", outer, " netns ", outer_ns),
                absl::StrCat("ip link set ", outer, "c netns ", inner_ns, " name eth0")});
}

// A new namespace `ns` on the fabric: its eth0 at `ip`/24, the other end `veth` on the bridge.
absl::Status JoinFabric(const std::string& ns, const std::string& veth, const std::string& ip) {
  WD_RETURN_IF_ERROR(AddNetns(ns));
  WD_RETURN_IF_ERROR(AddVeth(veth, kFabricNetns, ns));
  return ShAll({absl::StrCat("ip -n ", kFabricNetns, " link set ", veth, " master br0 up"),
                absl::StrCat("ip -n ", ns, " addr add ", ip, "/24 dev eth0"),
                absl::StrCat("ip -n ", ns, " link set eth0 up")});
}

}  // namespace

std::string NodeNetns(size_t index) { return absl::StrCat("wl-node-", index); }
std::string NodeFabricIp(size_t index) { return absl::StrCat("10.10.0.", 11 + index); }
std::string PodNetns(size_t index) { return absl::StrCat("wl-pod-", index); }

absl::Status MakeFabric() {
  WD_RETURN_IF_ERROR(AddNetns(kFabricNetns));
  return ShAll({absl::StrCat("ip -n ", kFabricNetns, " link add br0 type bridge"),
                absl::StrCat("ip -n ", kFabricNetns, " link set br0 up")});
}

absl::Status MakeInternet(const LabInternet& inet) {
  WD_RETURN_IF_ERROR(JoinFabric(inet.netns, "wlinet", kRouterIp));
  for (const auto& h : inet.hosts)
    WD_RETURN_IF_ERROR(Sh("ip -n ", inet.netns, " addr add ", h, "/32 dev lo"));
  return absl::OkStatus();
}

absl::Status MakeNode(size_t index, const LabNode& node) {
  const std::string& ns = node.netns;
  WD_RETURN_IF_ERROR(JoinFabric(ns, absl::StrCat("wln", index), node.ip));
  WD_RETURN_IF_ERROR(ShAll(
      {absl::StrCat("ip -n ", ns, " route add default via ", kRouterIp),
       absl::StrCat("ip netns exec ", ns,
                    " sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 "
                    "net.ipv4.conf.default.rp_filter=0"),
       absl::StrCat("ip -n ", ns, " addr add 169.254.169.254/32 dev lo")}));  // metadata server
  for (const auto& c : node.pod_cidrs)
    WD_RETURN_IF_ERROR(Sh("ip -n ", kInternetNetns, " route add ", c, " via ", node.ip));
  return absl::OkStatus();
}

absl::Status RouteBetweenNodes(const std::vector<LabNode>& nodes) {
  for (const auto& a : nodes) {
    for (const auto& b : nodes) {
      if (a.name == b.name) continue;
      for (const auto& c : b.pod_cidrs)
        WD_RETURN_IF_ERROR(Sh("ip -n ", a.netns, " route add ", c, " via ", b.ip));
    }
  }
  return absl::OkStatus();
}

absl::Status MakePod(size_t index, const LabPod& pod, const LabNode& node) {
  std::string veth = absl::StrCat("wlp", index);
  WD_RETURN_IF_ERROR(AddNetns(pod.netns));
  WD_RETURN_IF_ERROR(AddVeth(veth, node.netns, pod.netns));
  return ShAll({
      absl::StrCat("ip -n ", pod.netns, " addr add ", pod.ip, "/32 dev eth0"),
      absl::StrCat("ip -n ", pod.netns, " link set eth0 up"),
      absl::StrCat("ip -n ", pod.netns, " route add ", kPodGateway, " dev eth0 scope link"),
      absl::StrCat("ip -n ", pod.netns, " route add default via ", kPodGateway, " dev eth0"),
      absl::StrCat("ip -n ", node.netns, " link set ", veth, " up"),
      // Proxy ARP answers the pod's gateway; without proxy_delay=0 the kernel delays those
      // answers by up to 0.8 s.
      absl::StrCat("ip netns exec ", node.netns, " sysctl -qw net.ipv4.conf.", veth,
                   ".proxy_arp=1 net.ipv4.neigh.", veth, ".proxy_delay=0"),
      // Host processes reach their pods from the node's own address (as on a real node), not
      // from the metadata address on lo.
      absl::StrCat("ip -n ", node.netns, " route add ", pod.ip, "/32 dev ", veth, " src ", node.ip),
  });
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
