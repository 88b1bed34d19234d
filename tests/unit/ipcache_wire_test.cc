// The packed wire form of the ipcache's addresses: what goes in comes out, whatever the order,
// family or value; a malformed list is refused whole, naming the field; and it is small.
#include "agent/nodestate/ipcache_wire.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "absl/strings/str_cat.h"

namespace warden::nodestate {
namespace {

using policy::IpAddress;

IpAddress Ip(const std::string& text) { return *policy::ParseIp(text); }

using Entries = std::map<IpAddress, std::optional<wd_ipcache_value>>;

absl::Status Read(const v1::IpcacheHosts& in, bool removals, Entries* out) {
  return ReadIpcacheHosts(
      in, "hosts", removals,
      [&](const IpAddress& a, const std::optional<wd_ipcache_value>& v) { (*out)[a] = v; });
}

bool Same(const wd_ipcache_value& a, const wd_ipcache_value& b) {
  return a.identity == b.identity && a.cidr_identity == b.cidr_identity &&
         a.ns_identity == b.ns_identity;
}

TEST(IpcacheWireTest, WhatGoesInComesOut) {
  std::mt19937 rng(7);
  std::map<IpAddress, wd_ipcache_value> want;
  for (int i = 0; i < 3000; ++i) {
    IpAddress a;
    if (i % 5 == 0) {
      a = Ip(absl::StrCat("2001:db8::", absl::Hex(rng() % 65536)));
    } else {
      a = Ip(absl::StrCat(rng() % 256, ".", rng() % 256, ".", rng() % 256, ".", rng() % 256));
    }
    uint32_t pod = WD_ID_POD_MIN + rng() % 500;
    wd_ipcache_value v{pod, WD_ID_CIDR_FLAG | static_cast<uint32_t>(rng() % 7),
                       WD_ID_NS_FLAG | (pod % 11)};
    if (i % 7 == 0) v = wd_ipcache_value{WD_ID_HOST, WD_ID_CIDR_FLAG | 1, WD_ID_NONE};
    want[a] = v;
  }
  want[Ip("0.0.0.0")] = wd_ipcache_value{WD_ID_POD_MAX, WD_ID_CIDR_FLAG, WD_ID_NS_FLAG | 0xffffff};
  want[Ip("255.255.255.255")] = wd_ipcache_value{WD_ID_POD_MIN, WD_ID_CIDR_FLAG, WD_ID_NONE};
  IpcacheHostsWriter w;
  for (auto it = want.rbegin(); it != want.rend(); ++it) w.Add(it->first, it->second);
  v1::IpcacheHosts wire;
  w.Write(&wire);
  Entries got;
  ASSERT_TRUE(Read(wire, false, &got).ok());
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [a, v] : want) {
    ASSERT_TRUE(got.count(a) && got[a].has_value()) << a.ToString();
    EXPECT_TRUE(Same(*got[a], v)) << a.ToString();
  }
  // Removals: addresses only.
  IpcacheHostsWriter r;
  for (const auto& [a, _] : want) r.Add(a);
  v1::IpcacheHosts gone;
  r.Write(&gone);
  EXPECT_EQ(gone.value_of_size(), 0);
  Entries removed;
  ASSERT_TRUE(Read(gone, true, &removed).ok());
  EXPECT_EQ(removed.size(), want.size());
  EXPECT_FALSE(removed.begin()->second.has_value());
}

// A cluster's pod addresses: 110 per node in a /24 each, an identity from a few thousand: a few
// bytes an address (one IpcacheEntry each took about 27).
TEST(IpcacheWireTest, PodAddressesTakeAFewBytesEach) {
  IpcacheHostsWriter w;
  size_t n = 0;
  for (int node = 0; node < 1000; ++node) {
    for (int p = 0; p < 110; ++p, ++n) {
      IpAddress a = Ip(absl::StrCat("10.", 64 + node / 256, ".", node % 256, ".", p + 2));
      uint32_t id = WD_ID_POD_MIN + static_cast<uint32_t>((n * 7919) % 5000) * 3000;
      w.Add(a, wd_ipcache_value{id, WD_ID_CIDR_FLAG | 5, WD_ID_NS_FLAG | (id % 1000)});
    }
  }
  v1::IpcacheHosts wire;
  w.Write(&wire);
  const double per = static_cast<double>(wire.ByteSizeLong()) / static_cast<double>(n);
  EXPECT_LT(per, 6.0) << wire.ByteSizeLong() << " bytes for " << n << " addresses";
}

TEST(IpcacheWireTest, MalformedListsAreRefusedWholeByField) {
  IpcacheHostsWriter w;
  w.Add(Ip("10.0.0.1"), wd_ipcache_value{300, WD_ID_CIDR_FLAG | 1, WD_ID_NS_FLAG | 1});
  w.Add(Ip("10.0.0.2"), wd_ipcache_value{WD_ID_HOST, WD_ID_CIDR_FLAG | 1, WD_ID_NONE});
  w.Add(Ip("2001:db8::1"), wd_ipcache_value{301, WD_ID_CIDR_FLAG | 1, WD_ID_NS_FLAG | 1});
  v1::IpcacheHosts good;
  w.Write(&good);
  Entries sink;
  ASSERT_TRUE(Read(good, false, &sink).ok());
  struct Case {
    const char* what;
    std::function<void(v1::IpcacheHosts*)> mutate;
    const char* field;
  };
  const Case cases[] = {
      {"a torn IPv6 address", [](auto* h) { h->mutable_ipv6()->pop_back(); }, "hosts.ipv6"},
      {"a row short", [](auto* h) { h->mutable_value_of()->RemoveLast(); }, "hosts.value_of"},
      {"a row past the table", [](auto* h) { h->set_value_of(0, 99); }, "hosts.value_of[0]"},
      {"columns of unequal length", [](auto* h) { h->add_cidr_of(0); }, "hosts.identity_steps"},
      {"a CIDR index past its list", [](auto* h) { h->set_cidr_of(0, 9); }, "hosts.cidr_of[0]"},
      {"a namespace index past its list", [](auto* h) { h->set_ns_of(0, 9); }, "hosts.ns_of[0]"},
      {"identities past 2^32",
       [](auto* h) { h->add_identity_steps(UINT32_MAX), h->add_cidr_of(0), h->add_ns_of(0); },
       "hosts.identity_steps[3]"},
      {"addresses past 255.255.255.255",
       [](auto* h) { h->add_ipv4_steps(UINT32_MAX), h->add_value_of(0); }, "hosts.ipv4_steps[2]"},
      {"a pod identity posing as a namespace's",
       [](auto* h) {
         for (int i = 0; i < h->ns_identities_size(); ++i)
           if (h->ns_identities(i)) h->set_ns_identities(i, 300);
       },
       "hosts.ns_of"},
      {"a namespace identity on a node's address",
       [](auto* h) {
         for (int i = 0; i < h->ns_of_size(); ++i) h->set_ns_of(i, h->ns_identities_size() - 1);
       },
       "hosts.ns_of[0]"},
  };
  for (const Case& c : cases) {
    v1::IpcacheHosts bad = good;
    c.mutate(&bad);
    Entries got;
    absl::Status st = Read(bad, false, &got);
    EXPECT_FALSE(st.ok()) << c.what;
    EXPECT_NE(st.message().find(c.field), std::string::npos) << c.what << ": " << st.message();
    EXPECT_TRUE(got.empty()) << c.what << ": handed on before the list was checked";
  }
  // A list of removals carries no identities.
  Entries got;
  EXPECT_FALSE(Read(good, true, &got).ok());
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace warden::nodestate
