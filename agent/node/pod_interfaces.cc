#include "agent/node/pod_interfaces.h"

#include <net/if.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/common/files.h"

namespace warden::node {

namespace {

constexpr uint32_t kRtfLocal = 0x80000000;  // RTF_LOCAL (linux/ipv6_route.h)

// 32 hex digits (or 8, IPv4 in the kernel's byte order) into address bytes.
bool HexBytes(absl::string_view hex, uint8_t* out, size_t n) {
  if (hex.size() != n * 2) return false;
  for (size_t i = 0; i < n; ++i) {
    int v = 0;
    if (!absl::SimpleHexAtoi(hex.substr(i * 2, 2), &v)) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

std::vector<absl::string_view> Fields(absl::string_view line) {
  return absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
}

uint32_t IfIndexOf(const std::string& name) { return if_nametoindex(name.c_str()); }

}  // namespace

HostRoutes ParseHostRoutes(const std::string& route4, const std::string& route6) {
  HostRoutes out;
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ...: the destination and mask are
  // the address's bytes as the kernel holds them, printed as one little-endian word.
  bool header = true;
  for (absl::string_view line : absl::StrSplit(route4, '\n', absl::SkipEmpty())) {
    if (header) {
      header = false;
      continue;
    }
    auto f = Fields(line);
    if (f.size() < 8 || f[0] == "lo" || f[7] != "FFFFFFFF") continue;
    uint8_t le[4];
    if (!HexBytes(f[1], le, 4)) continue;
    policy::IpAddress ip;
    ip.family = policy::Family::kV4;
    for (int i = 0; i < 4; ++i) ip.bytes[i] = le[3 - i];
    out[ip] = std::string(f[0]);
  }
  // dest dest_len src src_len next_hop metric refcnt use flags device, in network order.
  for (absl::string_view line : absl::StrSplit(route6, '\n', absl::SkipEmpty())) {
    auto f = Fields(line);
    // The node's own addresses (RTF_LOCAL) are no pod's.
    uint32_t flags = 0;
    if (f.size() < 10 || f[1] != "80" || f[9] == "lo") continue;
    if (!absl::SimpleHexAtoi(f[8], &flags) || (flags & kRtfLocal)) continue;
    policy::IpAddress ip;
    ip.family = policy::Family::kV6;
    if (!HexBytes(f[0], ip.bytes.data(), 16)) continue;
    out[ip] = std::string(f[9]);
  }
  return out;
}

HostRoutes ReadHostRoutes() {
  auto r4 = common::ReadFile("/proc/self/net/route");
  auto r6 = common::ReadFile("/proc/self/net/ipv6_route");
  return ParseHostRoutes(r4.ok() ? *r4 : "", r6.ok() ? *r6 : "");
}

uint32_t PodInterface(const HostRoutes& routes, const std::vector<policy::IpAddress>& addresses,
                      uint32_t (*ifindex_of)(const std::string&)) {
  if (!ifindex_of) ifindex_of = IfIndexOf;
  const std::string* device = nullptr;
  for (const auto& ip : addresses) {
    auto it = routes.find(ip);
    if (it == routes.end()) continue;  // an address the node does not route to a device
    if (device && *device != it->second) return 0;
    device = &it->second;
  }
  return device ? ifindex_of(*device) : 0;
}

}  // namespace warden::node
