// Tests of IP addresses and CIDR prefixes: parsing, host-bit clearing, Contains and Covers.
#include "agent/policy/ip.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <ostream>
#include <string>
#include <vector>

namespace warden::policy {
namespace {

IpAddress Ip(const std::string& s) {
  auto ip = ParseIp(s);
  EXPECT_TRUE(ip.ok()) << s << ": " << ip.status();
  return ip.ok() ? *ip : IpAddress{};
}

Cidr Net(const std::string& s) {
  auto c = ParseCidr(s);
  EXPECT_TRUE(c.ok()) << s << ": " << c.status();
  return c.ok() ? *c : Cidr{};
}

// ---- ParseIp ------------------------------------------------------------------------------

struct IpCase {
  std::string text;
  Family family;
  std::vector<uint8_t> bytes;  // the leading bytes; the rest must be zero
  std::string canonical;
};

void PrintTo(const IpCase& c, std::ostream* os) { *os << c.text; }

class ParseIpTest : public ::testing::TestWithParam<IpCase> {};

TEST_P(ParseIpTest, Parses) {
  const IpCase& c = GetParam();
  auto ip = ParseIp(c.text);
  ASSERT_TRUE(ip.ok()) << ip.status();
  EXPECT_EQ(ip->family, c.family);
  EXPECT_EQ(ip->bits(), c.family == Family::kV4 ? 32 : 128);
  std::array<uint8_t, 16> want{};
  std::copy(c.bytes.begin(), c.bytes.end(), want.begin());
  EXPECT_EQ(ip->bytes, want);
  EXPECT_EQ(ip->ToString(), c.canonical);
}

INSTANTIATE_TEST_SUITE_P(
    IpTest, ParseIpTest,
    ::testing::Values(
        IpCase{"10.0.0.1", Family::kV4, {10, 0, 0, 1}, "10.0.0.1"},
        IpCase{"0.0.0.0", Family::kV4, {0, 0, 0, 0}, "0.0.0.0"},
        IpCase{"255.255.255.255", Family::kV4, {255, 255, 255, 255}, "255.255.255.255"},
        IpCase{"192.168.0.10", Family::kV4, {192, 168, 0, 10}, "192.168.0.10"},
        IpCase{"::", Family::kV6, {}, "::"},
        IpCase{"::1", Family::kV6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, "::1"},
        IpCase{"fd00:1::10",
               Family::kV6,
               {0xfd, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10},
               "fd00:1::10"},
        IpCase{"2001:DB8::1",
               Family::kV6,
               {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
               "2001:db8::1"},
        IpCase{"2001:0db8:0000:0000:0000:0000:0000:0001",
               Family::kV6,
               {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
               "2001:db8::1"},
        IpCase{"::ffff:10.0.0.1",
               Family::kV6,
               {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1},
               "::ffff:10.0.0.1"}),
    [](const ::testing::TestParamInfo<IpCase>& info) {
      std::string name;
      for (char c : info.param.text) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(IpTest, InvalidAddresses) {
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "1.2.3.4.5", "abc", "10.0.0.1/32",
                          " 10.0.0.1", "10.0.0.1 ", "10.0.0.01", "-1.0.0.0", "::g", ":::1",
                          "1::2::3", "fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "10.0.0.1:80"}) {
    auto ip = ParseIp(bad);
    EXPECT_FALSE(ip.ok()) << "\"" << bad << "\" parsed as " << ip->ToString();
    if (!ip.ok()) {
      EXPECT_EQ(ip.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(IpTest, AddressOrderAndEquality) {
  EXPECT_EQ(Ip("10.0.0.1"), Ip("10.0.0.1"));
  EXPECT_NE(Ip("10.0.0.1"), Ip("10.0.0.2"));
  EXPECT_LT(Ip("10.0.0.1"), Ip("10.0.0.2"));
  // Same bytes, different family: different addresses.
  IpAddress v6 = Ip("::");
  IpAddress v4 = Ip("0.0.0.0");
  EXPECT_NE(v4, v6);
}

// ---- ParseCidr ----------------------------------------------------------------------------

struct CidrCase {
  std::string text;
  std::string canonical;  // host bits cleared
  int prefix_len;
};

void PrintTo(const CidrCase& c, std::ostream* os) { *os << c.text; }

class ParseCidrTest : public ::testing::TestWithParam<CidrCase> {};

TEST_P(ParseCidrTest, ParsesAndClearsHostBits) {
  const CidrCase& c = GetParam();
  auto cidr = ParseCidr(c.text);
  ASSERT_TRUE(cidr.ok()) << cidr.status();
  EXPECT_EQ(cidr->prefix_len, c.prefix_len);
  EXPECT_EQ(cidr->ToString(), c.canonical);
  // The canonical spelling is the same prefix.
  EXPECT_EQ(*cidr, Net(c.canonical));
}

INSTANTIATE_TEST_SUITE_P(
    IpTest, ParseCidrTest,
    ::testing::Values(
        CidrCase{"10.0.0.0/8", "10.0.0.0/8", 8}, CidrCase{"10.1.2.3/8", "10.0.0.0/8", 8},
        CidrCase{"10.255.255.255/7", "10.0.0.0/7", 7}, CidrCase{"11.1.1.1/7", "10.0.0.0/7", 7},
        CidrCase{"192.168.1.255/23", "192.168.0.0/23", 23},
        CidrCase{"172.16.5.129/25", "172.16.5.128/25", 25},
        CidrCase{"10.0.0.7/32", "10.0.0.7/32", 32}, CidrCase{"1.2.3.4/0", "0.0.0.0/0", 0},
        CidrCase{"0.0.0.0/0", "0.0.0.0/0", 0}, CidrCase{"fd00:1::10/64", "fd00:1::/64", 64},
        CidrCase{"2001:db8:abcd:ef01::/33", "2001:db8:8000::/33", 33},
        CidrCase{"2001:db8::1/128", "2001:db8::1/128", 128},
        CidrCase{"2001:db8::ff/121", "2001:db8::80/121", 121}, CidrCase{"ffff::/0", "::/0", 0},
        CidrCase{"::/0", "::/0", 0}),
    [](const ::testing::TestParamInfo<CidrCase>& info) {
      std::string name;
      for (char c : info.param.text) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

TEST(IpTest, HostBitsAreZeroedInTheBytes) {
  Cidr c = Net("10.1.2.3/12");
  EXPECT_EQ(c.addr.family, Family::kV4);
  EXPECT_EQ(c.addr.bytes[0], 10);
  EXPECT_EQ(c.addr.bytes[1], 0);  // 0x01 & 0xf0
  EXPECT_EQ(c.addr.bytes[2], 0);
  EXPECT_EQ(c.addr.bytes[3], 0);
  Cidr d = Net("10.31.2.3/12");
  EXPECT_EQ(d.addr.bytes[1], 0x10);
  EXPECT_EQ(Net("10.1.2.3/8"), Net("10.200.0.0/8"));
  EXPECT_NE(Net("10.0.0.0/8"), Net("10.0.0.0/9"));
}

TEST(IpTest, InvalidCidrs) {
  for (const char* bad :
       {"", "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/9",
        "10.0.0.0/ 8", "10.0.0.0/8 ", "/8", "::/129", "::/1000", "abc/8", "10.0.0/8",
        "10.0.0.0/0x8", "10.0.0.0/1e1", "fd00::/64/1", "10.0.0.256/8"}) {
    auto c = ParseCidr(bad);
    EXPECT_FALSE(c.ok()) << "\"" << bad << "\" parsed as " << c->ToString();
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(IpTest, HostPrefix) {
  Cidr h4 = HostPrefix(Ip("10.1.2.3"));
  EXPECT_EQ(h4.prefix_len, 32);
  EXPECT_EQ(h4.ToString(), "10.1.2.3/32");
  Cidr h6 = HostPrefix(Ip("fd00::1"));
  EXPECT_EQ(h6.prefix_len, 128);
  EXPECT_EQ(h6.ToString(), "fd00::1/128");
  EXPECT_EQ(h4, Net("10.1.2.3/32"));
}

// ---- Contains and Covers ------------------------------------------------------------------

struct ContainsCase {
  std::string cidr, ip;
  bool want;
};

void PrintTo(const ContainsCase& c, std::ostream* os) { *os << c.cidr << " contains " << c.ip; }

class ContainsTest : public ::testing::TestWithParam<ContainsCase> {};

TEST_P(ContainsTest, Contains) {
  EXPECT_EQ(Net(GetParam().cidr).Contains(Ip(GetParam().ip)), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(IpTest, ContainsTest,
                         ::testing::Values(ContainsCase{"10.0.0.0/8", "10.0.0.0", true},
                                           ContainsCase{"10.0.0.0/8", "10.255.255.255", true},
                                           ContainsCase{"10.0.0.0/8", "11.0.0.0", false},
                                           ContainsCase{"10.0.0.0/8", "9.255.255.255", false},
                                           ContainsCase{"10.0.0.0/7", "11.1.1.1", true},
                                           ContainsCase{"10.0.0.0/7", "12.0.0.0", false},
                                           ContainsCase{"192.168.0.0/23", "192.168.1.200", true},
                                           ContainsCase{"192.168.0.0/23", "192.168.2.0", false},
                                           ContainsCase{"203.0.113.128/25", "203.0.113.127", false},
                                           ContainsCase{"203.0.113.128/25", "203.0.113.128", true},
                                           ContainsCase{"10.0.0.7/32", "10.0.0.7", true},
                                           ContainsCase{"10.0.0.7/32", "10.0.0.6", false},
                                           ContainsCase{"0.0.0.0/0", "1.2.3.4", true},
                                           ContainsCase{"0.0.0.0/0", "::1", false},
                                           ContainsCase{"::/0", "10.0.0.1", false},
                                           ContainsCase{"::/0", "2001:db8::1", true},
                                           ContainsCase{"fd00:1::/64", "fd00:1::ffff:1", true},
                                           ContainsCase{"fd00:1::/64", "fd00:1:0:1::1", false},
                                           ContainsCase{"2001:db8::/33", "2001:db8:7fff::1", true},
                                           ContainsCase{"2001:db8::/33", "2001:db8:8000::1", false},
                                           ContainsCase{"2001:db8::1/128", "2001:db8::1", true},
                                           ContainsCase{"2001:db8::1/128", "2001:db8::2", false},
                                           // IPv4 bytes inside an IPv6 address are not IPv4.
                                           ContainsCase{"10.0.0.0/8", "::ffff:10.0.0.1", false}));

struct CoversCase {
  std::string outer, inner;
  bool want;
};

void PrintTo(const CoversCase& c, std::ostream* os) { *os << c.outer << " covers " << c.inner; }

class CoversTest : public ::testing::TestWithParam<CoversCase> {};

TEST_P(CoversTest, Covers) {
  EXPECT_EQ(Net(GetParam().outer).Covers(Net(GetParam().inner)), GetParam().want);
}

INSTANTIATE_TEST_SUITE_P(
    IpTest, CoversTest,
    ::testing::Values(
        CoversCase{"10.0.0.0/8", "10.1.0.0/16", true}, CoversCase{"10.0.0.0/8", "10.0.0.0/8", true},
        CoversCase{"10.0.0.0/8", "10.0.0.0/7", false},
        CoversCase{"10.0.0.0/8", "11.0.0.0/16", false},
        CoversCase{"10.0.0.0/8", "10.255.255.255/32", true},
        CoversCase{"10.1.0.0/16", "10.0.0.0/8", false},
        CoversCase{"10.0.0.0/7", "11.0.0.0/8", true},
        CoversCase{"0.0.0.0/0", "203.0.113.0/24", true}, CoversCase{"0.0.0.0/0", "0.0.0.0/0", true},
        CoversCase{"0.0.0.0/0", "::/0", false}, CoversCase{"::/0", "0.0.0.0/0", false},
        CoversCase{"::/0", "fd00::/64", true}, CoversCase{"fd00::/64", "fd00::1/128", true},
        CoversCase{"fd00::/64", "fd00:0:0:1::/64", false},
        CoversCase{"fd00::/64", "fd00::/63", false},
        CoversCase{"2001:db8::/33", "2001:db8:4000::/34", true},
        CoversCase{"2001:db8::/33", "2001:db8:8000::/34", false}));

TEST(IpTest, ToString) {
  EXPECT_EQ(Net("10.0.0.0/8").ToString(), "10.0.0.0/8");
  EXPECT_EQ(Net("fd00::/64").ToString(), "fd00::/64");
  EXPECT_EQ(Ip("10.244.1.10").ToString(), "10.244.1.10");
  EXPECT_EQ(Ip("fd00:0:0:0:0:0:0:10").ToString(), "fd00::10");
}

}  // namespace
}  // namespace warden::policy
