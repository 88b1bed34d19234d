// The packed wire form of policy entries: what goes in comes out, keys and values, whatever the
// order; a malformed list is refused whole, naming the field; and it is small.
#include "agent/nodestate/policy_wire.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace warden::nodestate {
namespace {

using policy::PolicyKey;
using Entries = std::map<PolicyKey, std::optional<wd_policy_value>>;

absl::Status Read(const v1::PolicyEntries& in, bool removals, Entries* out) {
  return ReadPolicyEntries(
      in, "entries", removals,
      [&](const PolicyKey& k, const std::optional<wd_policy_value>& v) { (*out)[k] = v; });
}

std::map<PolicyKey, wd_policy_value> Random(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::map<PolicyKey, wd_policy_value> out;
  const uint32_t remotes[] = {WD_ID_ANY_POD, WD_ID_NS_FLAG | 77, WD_ID_CIDR_FLAG | 3, 4242};
  while (static_cast<int>(out.size()) < n) {
    PolicyKey k{WD_ID_POD_MIN + static_cast<uint32_t>(rng() % 40),
                rng() % 3 ? remotes[rng() % 4] : WD_ID_POD_MIN + static_cast<uint32_t>(rng()),
                static_cast<uint8_t>(rng() % 2 ? WD_DIR_EGRESS : WD_DIR_INGRESS)};
    k.remote &= 0x03ffffffu;
    if (k.remote == WD_ID_NONE) continue;
    wd_policy_value v{};
    for (auto& ps : v.portset) ps = static_cast<uint16_t>(rng() % 5 == 0 ? 0xffff : rng() % 30);
    v.flags = rng() % 2 ? WD_POLICY_OTHER_L4 : 0;
    out[k] = v;
  }
  return out;
}

TEST(PolicyWireTest, WhatGoesInComesOut) {
  auto want = Random(2000, 3);
  PolicyEntriesWriter w;
  for (auto it = want.rbegin(); it != want.rend(); ++it) w.Add(it->first, it->second);
  v1::PolicyEntries wire;
  w.Write(&wire);
  Entries got;
  ASSERT_TRUE(Read(wire, false, &got).ok());
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [k, v] : want) {
    ASSERT_TRUE(got.count(k) && got[k]) << k.local << " " << k.remote;
    EXPECT_EQ(*got[k], v) << k.local << " " << k.remote;
  }
  PolicyEntriesWriter r;
  for (const auto& [k, _] : want) r.Add(k);
  v1::PolicyEntries gone;
  r.Write(&gone);
  Entries removed;
  ASSERT_TRUE(Read(gone, true, &removed).ok());
  EXPECT_EQ(removed.size(), want.size());
  EXPECT_FALSE(removed.begin()->second.has_value());
}

// A node's entries: 30 local identities, each with a few hundred namespace peers and a handful
// of port lists: a few bytes an entry (one PolicyEntry each took about 17).
TEST(PolicyWireTest, EntriesTakeAFewBytesEach) {
  PolicyEntriesWriter w;
  size_t n = 0;
  for (uint32_t local = 0; local < 30; ++local) {
    for (uint32_t ns = 0; ns < 500; ++ns, ++n) {
      wd_policy_value v{};
      v.portset[WD_L4_TCP] = static_cast<uint16_t>(2 + ns % 4);
      w.Add(PolicyKey{WD_ID_POD_MIN + local * 1000, WD_ID_NS_FLAG | (ns * 30011 % 0xffffff),
                      WD_DIR_INGRESS},
            v);
    }
  }
  v1::PolicyEntries wire;
  w.Write(&wire);
  const double per = static_cast<double>(wire.ByteSizeLong()) / static_cast<double>(n);
  EXPECT_LT(per, 4.0) << wire.ByteSizeLong() << " bytes for " << n << " entries";
}

TEST(PolicyWireTest, MalformedListsAreRefusedWholeByField) {
  PolicyEntriesWriter w;
  for (const auto& [k, v] : Random(50, 9)) w.Add(k, v);
  v1::PolicyEntries good;
  w.Write(&good);
  Entries sink;
  ASSERT_TRUE(Read(good, false, &sink).ok());
  struct Case {
    const char* what;
    std::function<void(v1::PolicyEntries*)> mutate;
    const char* field;
  };
  const Case cases[] = {
      {"a count missing", [](auto* e) { e->mutable_local_counts()->RemoveLast(); },
       "entries.local_counts"},
      {"counts that do not add up", [](auto* e) { e->set_local_counts(0, e->local_counts(0) + 1); },
       "entries.remote_of"},
      {"a host as the local identity", [](auto* e) { e->set_locals(0, WD_ID_HOST); },
       "entries.locals[0]"},
      {"a remote past the table", [](auto* e) { e->set_remote_of(0, 9999); },
       "entries.remote_of[0]"},
      {"identity 0 as a remote", [](auto* e) { e->set_remote_steps(0, 0); },
       "entries.remote_steps[0]"},
      {"remotes past 2^32", [](auto* e) { e->add_remote_steps(UINT32_MAX); },
       "entries.remote_steps"},
      {"a value past the table", [](auto* e) { e->set_value_of(0, 9999); }, "entries.value_of[0]"},
      {"a value short", [](auto* e) { e->mutable_value_of()->RemoveLast(); }, "entries.value_of"},
      {"columns of unequal length", [](auto* e) { e->add_flags(0); }, "entries.tcp_portset"},
      {"a port set id past 16 bits", [](auto* e) { e->set_udp_portset(0, 70000); },
       "entries.row 0"},
      {"unknown flags", [](auto* e) { e->set_flags(0, 6); }, "entries.flags[0]"},
  };
  for (const Case& c : cases) {
    v1::PolicyEntries bad = good;
    c.mutate(&bad);
    Entries got;
    absl::Status st = Read(bad, false, &got);
    EXPECT_FALSE(st.ok()) << c.what;
    EXPECT_NE(st.message().find(c.field), std::string::npos) << c.what << ": " << st.message();
    EXPECT_TRUE(got.empty()) << c.what << ": handed on before the list was checked";
  }
  Entries got;
  EXPECT_FALSE(Read(good, true, &got).ok()) << "a list of removals carries no values";
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace warden::nodestate
