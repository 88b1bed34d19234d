// Table sizes: what tables need, the message when they do not fit, and how far they grow.
#include "agent/datapath/table_capacity.h"

#include <gtest/gtest.h>

#include <cstring>

namespace warden::datapath {
namespace {

wd_ipcache_key Key(uint32_t addr, uint32_t plen) {
  wd_ipcache_key k;
  std::memset(&k, 0, sizeof(k));
  k.prefixlen = WD_IPCACHE_PREFIX_BASE + plen;
  k.family = WD_AF_INET;
  std::memcpy(k.addr, &addr, 4);
  return k;
}

TEST(TableCapacityTest, NeedsCountHostAddressesAndPrefixesApart) {
  NodeTables t;
  for (uint32_t i = 0; i < 5; ++i) t.ipcache[Key(i, 32)] = {};
  for (uint32_t i = 0; i < 3; ++i) t.ipcache[Key(i << 8, 24)] = {};
  t.portsets.resize(7);
  t.portranges.resize(11);
  Capacity n = NeedsOf(t);
  EXPECT_EQ(n.iphost, 5u);
  EXPECT_EQ(n.ipcache, 3u);
  EXPECT_EQ(n.portsets, 7u);
  EXPECT_EQ(n.portranges, 11u);
  EXPECT_EQ(n.policy, 0u);
}

TEST(TableCapacityTest, FitsNamesTheTableTheNeedAndTheRoom) {
  Capacity have{16, 16, 16, 16, 16, 16, 16, 16};
  Capacity need = have;
  EXPECT_TRUE(Fits(have, need).ok());
  need.policy = 17;
  absl::Status st = Fits(have, need);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(st.message(), "map full: 17 policy entries needed, room for 16 (wd_policy)");
}

// A table too small grows to twice its need, a power of two; the others keep their size.
TEST(TableCapacityTest, GrowsOnlyWhatDoesNotFitToTwiceTheNeed) {
  Capacity have{16, 16, 16, 16, 16, 16, 16, 16};
  Capacity need{1, 2, 3, 1000, 4, 5, 6, 7};
  absl::StatusOr<Capacity> g = Grown(have, need);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->policy, 2048u);
  EXPECT_EQ(g->endpoints, 16u);
  EXPECT_EQ(g->iphost, 16u);
  EXPECT_EQ(CapacityChanges(have, *g), "wd_policy 16 -> 2048");
  EXPECT_EQ(CapacityChanges(have, have), "");
}

// No table grows past its limit (port set ids are 16 bits); a need beyond it is an error that
// names the table.
TEST(TableCapacityTest, NeedsBeyondALimitAreErrors) {
  Capacity have{16, 16, 16, 16, 16, 16, 16, 16};
  Capacity need = have;
  need.portsets = 40000;  // twice would pass the id space: capped at it
  absl::StatusOr<Capacity> g = Grown(have, need);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->portsets, static_cast<uint32_t>(WD_PORTSETS_MAX_ENTRIES));
  need.portsets = WD_PORTSETS_MAX_ENTRIES + 1;
  g = Grown(have, need);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(g.status().message().find("wd_portsets"), std::string::npos) << g.status();
}

}  // namespace
}  // namespace warden::datapath
