// Finding a pod's interface from the node's host routes (agent/node/pod_interfaces.h), on route
// tables as the kernel prints them: only host routes through a device count, and a pod whose
// addresses lead to two devices gets none (which one would judge it?).
#include "agent/node/pod_interfaces.h"

#include <gtest/gtest.h>

namespace warden::node {
namespace {

// 10.244.1.11/32 dev wlp1, 10.244.1.12/32 dev wlp2, 10.244.0.0/16 dev br0 (not a host route),
// 10.244.1.13/32 dev lo, and the default route.
const char* kRoute4 =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "wlp1\t0B01F40A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n"
    "wlp2\t0C01F40A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n"
    "br0\t0000F40A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
    "lo\t0D01F40A\t00000000\t0005\t0\t0\t0\tFFFFFFFF\t0\t0\t0\n";
// fd00::11/128 dev wlp1, fd00::12/128 dev wlp3, fd00::1/128 local (the node's own), fd00::/64.
const char* kRoute6 =
    "fd000000000000000000000000000011 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000400 00000001 00000000 00000001     wlp1\n"
    "fd000000000000000000000000000012 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000400 00000001 00000000 00000001     wlp3\n"
    "fd000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth0\n"
    "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n";

policy::IpAddress Ip(const char* s) { return *policy::ParseIp(s); }

uint32_t FakeIndex(const std::string& name) {
  if (name == "wlp1") return 11;
  if (name == "wlp2") return 12;
  if (name == "wlp3") return 13;
  return 0;
}

TEST(PodInterfaces, HostRoutesOnly) {
  HostRoutes r = ParseHostRoutes(kRoute4, kRoute6);
  EXPECT_EQ(r.size(), 4u);
  EXPECT_EQ(r[Ip("10.244.1.11")], "wlp1");
  EXPECT_EQ(r[Ip("10.244.1.12")], "wlp2");
  EXPECT_EQ(r[Ip("fd00::11")], "wlp1");
  EXPECT_EQ(r[Ip("fd00::12")], "wlp3");
  EXPECT_FALSE(r.contains(Ip("10.244.1.13")));  // through lo
  EXPECT_FALSE(r.contains(Ip("fd00::1")));      // the node's own (RTF_LOCAL)
  EXPECT_FALSE(r.contains(Ip("10.244.0.0")));   // a prefix, not a pod
}

TEST(PodInterfaces, OneDeviceForAllAddresses) {
  HostRoutes r = ParseHostRoutes(kRoute4, kRoute6);
  EXPECT_EQ(PodInterface(r, {Ip("10.244.1.11"), Ip("fd00::11")}, FakeIndex), 11u);
  EXPECT_EQ(PodInterface(r, {Ip("10.244.1.12")}, FakeIndex), 12u);
  // Addresses on two devices: ambiguous, none.
  EXPECT_EQ(PodInterface(r, {Ip("10.244.1.12"), Ip("fd00::12")}, FakeIndex), 0u);
  // Reached only through a prefix (a bridge), or not at all.
  EXPECT_EQ(PodInterface(r, {Ip("10.244.2.7")}, FakeIndex), 0u);
  EXPECT_EQ(PodInterface(r, {}, FakeIndex), 0u);
}

}  // namespace
}  // namespace warden::node
