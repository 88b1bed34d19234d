// Tests of PortSetTable (interning with normalization, memoized unions) and of the kernel form
// of port sets (inline ranges, runs searched by halving).
#include "agent/policy/port_sets.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string RangesText(const std::vector<PortRange>& r) {
  return absl::StrJoin(r, ",", [](std::string* out, const PortRange& p) {
    absl::StrAppend(out, p.first, "-", p.second);
  });
}

// The table's sets as the kernel holds them, index = id.
KernelPortsets Kernel(const PortSetTable& t) {
  KernelPortsets k;
  for (const auto& set : t.Sets()) AppendKernelPortset(set, &k);
  return k;
}

// Membership by the ranges themselves: what the kernel form must answer.
bool Holds(const std::vector<PortRange>& ranges, uint32_t port) {
  for (const auto& [lo, hi] : ranges) {
    if (lo <= port && port <= hi) return true;
  }
  return false;
}

int Count(const KernelPortsets& k, uint16_t id) {
  int n = 0;
  for (uint32_t p = 0; p < 65536; ++p) n += KernelPortsetHas(k.sets[id], k.ranges, p);
  return n;
}

TEST(PortSetTableTest, ReservedSets) {
  PortSetTable t;
  EXPECT_EQ(t.size(), 2u);
  EXPECT_THAT(t.Ranges(WD_PORTSET_EMPTY), IsEmpty());
  EXPECT_THAT(t.Ranges(WD_PORTSET_ALL), ElementsAre(PortRange{0, 65535}));
  EXPECT_EQ(*t.Intern({}), WD_PORTSET_EMPTY);
  EXPECT_EQ(*t.Intern({{0, 65535}}), WD_PORTSET_ALL);
  // Any spelling of "all ports" is the ALL set.
  EXPECT_EQ(*t.Intern({{0, 100}, {101, 65535}}), WD_PORTSET_ALL);
  EXPECT_EQ(*t.Intern({{30000, 65535}, {0, 40000}}), WD_PORTSET_ALL);
  EXPECT_EQ(*t.Intern({{5, 6}, {0, 65535}}), WD_PORTSET_ALL);
  EXPECT_EQ(t.size(), 2u);
}

struct NormalizeCase {
  std::string name;
  std::vector<PortRange> in;
  std::vector<PortRange> want;
};

void PrintTo(const NormalizeCase& c, std::ostream* os) { *os << c.name; }

class NormalizeTest : public ::testing::TestWithParam<NormalizeCase> {};

TEST_P(NormalizeTest, InternNormalizes) {
  PortSetTable t;
  uint16_t id = *t.Intern(GetParam().in);
  EXPECT_EQ(RangesText(t.Ranges(id)), RangesText(GetParam().want));
  EXPECT_EQ(t.Ranges(id), GetParam().want);
  // The normalized spelling is the same set.
  EXPECT_EQ(*t.Intern(GetParam().want), id);
}

INSTANTIATE_TEST_SUITE_P(
    PortSetTableTest, NormalizeTest,
    ::testing::Values(NormalizeCase{"Single", {{80, 80}}, {{80, 80}}},
                      NormalizeCase{"Sorted", {{90, 100}, {80, 85}}, {{80, 85}, {90, 100}}},
                      NormalizeCase{"Overlapping", {{80, 90}, {85, 95}}, {{80, 95}}},
                      NormalizeCase{"Adjacent", {{80, 90}, {91, 95}}, {{80, 95}}},
                      NormalizeCase{"AdjacentReversed", {{91, 95}, {80, 90}}, {{80, 95}}},
                      NormalizeCase{"GapOfOne", {{80, 90}, {92, 95}}, {{80, 90}, {92, 95}}},
                      NormalizeCase{"Contained", {{80, 90}, {82, 85}}, {{80, 90}}},
                      NormalizeCase{"ContainedFirst", {{82, 85}, {80, 90}}, {{80, 90}}},
                      NormalizeCase{"Duplicates", {{5, 5}, {5, 5}, {5, 5}}, {{5, 5}}},
                      NormalizeCase{"Extremes", {{65535, 65535}, {0, 0}}, {{0, 0}, {65535, 65535}}},
                      NormalizeCase{
                          "TopEdgeOverlap", {{65535, 65535}, {65534, 65535}}, {{65534, 65535}}},
                      NormalizeCase{"BottomAdjacent", {{1, 1}, {0, 0}}, {{0, 1}}},
                      NormalizeCase{"ChainMerges", {{10, 20}, {0, 5}, {6, 9}}, {{0, 20}}},
                      NormalizeCase{"SameStartLongerWins", {{100, 200}, {100, 150}}, {{100, 200}}},
                      NormalizeCase{"ManyDisjoint",
                                    {{443, 443}, {22, 22}, {8000, 8100}, {80, 80}},
                                    {{22, 22}, {80, 80}, {443, 443}, {8000, 8100}}}),
    [](const ::testing::TestParamInfo<NormalizeCase>& info) { return info.param.name; });

TEST(PortSetTableTest, EqualSetsShareOneId) {
  PortSetTable t;
  uint16_t a = *t.Intern({{80, 80}, {443, 443}});
  EXPECT_EQ(a, 2);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(*t.Intern({{443, 443}, {80, 80}}), a);
  EXPECT_EQ(*t.Intern({{80, 80}, {443, 443}, {80, 80}}), a);
  EXPECT_EQ(t.size(), 3u);
  uint16_t b = *t.Intern({{80, 81}});
  EXPECT_EQ(b, 3);
  EXPECT_NE(b, a);
  EXPECT_EQ(*t.Intern({{80, 80}, {81, 81}}), b);
  EXPECT_EQ(t.size(), 4u);
}

TEST(PortSetTableTest, UnionWithReservedSets) {
  PortSetTable t;
  uint16_t a = *t.Intern({{80, 80}});
  const size_t before = t.size();
  EXPECT_EQ(*t.Union(a, WD_PORTSET_EMPTY), a);
  EXPECT_EQ(*t.Union(WD_PORTSET_EMPTY, a), a);
  EXPECT_EQ(*t.Union(a, a), a);
  EXPECT_EQ(*t.Union(a, WD_PORTSET_ALL), WD_PORTSET_ALL);
  EXPECT_EQ(*t.Union(WD_PORTSET_ALL, a), WD_PORTSET_ALL);
  EXPECT_EQ(*t.Union(WD_PORTSET_EMPTY, WD_PORTSET_EMPTY), WD_PORTSET_EMPTY);
  EXPECT_EQ(*t.Union(WD_PORTSET_EMPTY, WD_PORTSET_ALL), WD_PORTSET_ALL);
  EXPECT_EQ(t.size(), before);
}

TEST(PortSetTableTest, UnionIsNormalizedAndMemoized) {
  PortSetTable t;
  uint16_t a = *t.Intern({{80, 80}, {1000, 2000}});
  uint16_t b = *t.Intern({{81, 81}, {1500, 3000}});
  uint16_t u = *t.Union(a, b);
  EXPECT_THAT(t.Ranges(u), ElementsAre(PortRange{80, 81}, PortRange{1000, 3000}));
  const size_t after_first = t.size();
  EXPECT_EQ(after_first, 5u);
  // Commutative, memoized: no new set.
  EXPECT_EQ(*t.Union(b, a), u);
  EXPECT_EQ(*t.Union(a, b), u);
  EXPECT_EQ(t.size(), after_first);
  // A union equal to an existing set is that set.
  EXPECT_EQ(*t.Intern({{1000, 3000}, {80, 81}}), u);
  uint16_t single80 = *t.Intern({{80, 80}});
  uint16_t single81 = *t.Intern({{81, 81}});
  uint16_t both = *t.Intern({{80, 81}});
  EXPECT_EQ(*t.Union(single80, single81), both);
  // Union with a subset is the superset.
  EXPECT_EQ(*t.Union(u, single80), u);
  EXPECT_EQ(*t.Union(single81, u), u);
}

TEST(PortSetTableTest, UnionThatCoversEverythingIsAll) {
  PortSetTable t;
  uint16_t low = *t.Intern({{0, 32767}});
  uint16_t high = *t.Intern({{32768, 65535}});
  EXPECT_EQ(*t.Union(low, high), WD_PORTSET_ALL);
  EXPECT_EQ(*t.Union(high, low), WD_PORTSET_ALL);
}

TEST(PortSetTableTest, KernelFormOfReservedSets) {
  PortSetTable t;
  KernelPortsets k = Kernel(t);
  ASSERT_EQ(k.sets.size(), 2u);
  EXPECT_EQ(k.sets[WD_PORTSET_EMPTY].count, 0u);
  EXPECT_EQ(k.sets[WD_PORTSET_ALL].count, 1u);
  EXPECT_EQ(k.sets[WD_PORTSET_ALL].ranges[0].lo, 0);
  EXPECT_EQ(k.sets[WD_PORTSET_ALL].ranges[0].hi, 65535);
  EXPECT_THAT(k.ranges, IsEmpty()) << "neither needs a run";
  EXPECT_EQ(Count(k, WD_PORTSET_EMPTY), 0);
  EXPECT_EQ(Count(k, WD_PORTSET_ALL), 65536);
}

struct BitCase {
  std::string name;
  std::vector<PortRange> ranges;
  std::vector<int> set, clear;
  int count;
};

void PrintTo(const BitCase& c, std::ostream* os) { *os << c.name; }

class KernelFormTest : public ::testing::TestWithParam<BitCase> {};

// Every port of the set's kernel form answers as the ranges say, inline or in a run.
TEST_P(KernelFormTest, Ports) {
  const BitCase& c = GetParam();
  PortSetTable t;
  uint16_t id = *t.Intern(c.ranges);
  KernelPortsets k = Kernel(t);
  ASSERT_EQ(k.sets.size(), t.size());
  ASSERT_LT(id, k.sets.size());
  for (int p : c.set) EXPECT_TRUE(KernelPortsetHas(k.sets[id], k.ranges, p)) << "port " << p;
  for (int p : c.clear) EXPECT_FALSE(KernelPortsetHas(k.sets[id], k.ranges, p)) << "port " << p;
  EXPECT_EQ(Count(k, id), c.count);
  const std::vector<PortRange>& normal = t.Ranges(id);
  EXPECT_EQ(k.sets[id].count, normal.size());
  EXPECT_EQ(KernelPortsetRanges(k.sets[id], k.ranges), normal);
  if (normal.size() <= WD_PORTSET_INLINE)
    EXPECT_THAT(k.ranges, IsEmpty()) << "a small set sits inline";
  else
    EXPECT_EQ(k.ranges.size(), normal.size()) << "a larger set is one run";
}

INSTANTIATE_TEST_SUITE_P(
    PortSetTableTest, KernelFormTest,
    ::testing::Values(
        BitCase{"PortZero", {{0, 0}}, {0}, {1, 63, 64, 65535}, 1},
        BitCase{"Port65535", {{65535, 65535}}, {65535}, {0, 65534, 65472, 65471}, 1},
        BitCase{"TwoPortsInline", {{80, 80}, {443, 443}}, {80, 443}, {79, 81, 442, 444}, 2},
        BitCase{"RangeEdges", {{1000, 2000}}, {1000, 1500, 2000}, {999, 2001}, 1001},
        BitCase{"ThreeRangesInARun",
                {{22, 22}, {80, 80}, {443, 443}},
                {22, 80, 443},
                {0, 21, 23, 79, 81, 442, 444, 65535},
                3},
        BitCase{"SeveralRanges",
                {{0, 0}, {80, 80}, {443, 443}, {65535, 65535}},
                {0, 80, 443, 65535},
                {1, 79, 81, 442, 444, 65534},
                4},
        BitCase{
            "OverlapsMergeInline", {{8000, 8100}, {8050, 8200}}, {8000, 8200}, {7999, 8201}, 201},
        BitCase{"ManyPorts",
                {{1, 1},
                 {3, 3},
                 {5, 5},
                 {7, 7},
                 {9, 9},
                 {11, 11},
                 {13, 13},
                 {15, 20},
                 {30000, 40000},
                 {65534, 65535}},
                {1, 3, 13, 15, 20, 30000, 35000, 40000, 65534, 65535},
                {0, 2, 4, 12, 14, 21, 29999, 40001, 65533},
                7 + 6 + 10001 + 2}),
    [](const ::testing::TestParamInfo<BitCase>& info) { return info.param.name; });

// Sets of every size from one range to thousands, each a run after the ones before it: every port
// of every set answers as its ranges say (the halving reaches both ends of every run).
TEST(PortSetTableTest, KernelFormOfRandomSetsAnswersEveryPort) {
  std::mt19937 rng(7);
  PortSetTable t;
  std::vector<uint16_t> ids;
  for (int n : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 100, 1000, 4000}) {
    std::vector<PortRange> r;
    for (int i = 0; i < n; ++i) {
      uint16_t lo = static_cast<uint16_t>(rng() % 65536);
      uint16_t hi = static_cast<uint16_t>(std::min<uint32_t>(65535, lo + rng() % 4));
      r.push_back({lo, hi});
    }
    ids.push_back(*t.Intern(r));
  }
  KernelPortsets k = Kernel(t);
  for (uint16_t id : ids) {
    const std::vector<PortRange>& want = t.Ranges(id);
    ASSERT_EQ(KernelPortsetRanges(k.sets[id], k.ranges), want) << id;
    for (uint32_t p = 0; p < 65536; ++p) {
      ASSERT_EQ(KernelPortsetHas(k.sets[id], k.ranges, p), Holds(want, p))
          << "set " << id << " (" << want.size() << " ranges), port " << p;
    }
  }
}

// The largest set there can be: every other port, 32768 ranges.
TEST(PortSetTableTest, KernelFormOfTheLargestSet) {
  std::vector<PortRange> r;
  for (uint32_t p = 0; p < 65536; p += 2) r.push_back({p, p});
  PortSetTable t;
  uint16_t id = *t.Intern(r);
  KernelPortsets k = Kernel(t);
  ASSERT_EQ(k.sets[id].count, 32768u);
  for (uint32_t p = 0; p < 65536; ++p)
    ASSERT_EQ(KernelPortsetHas(k.sets[id], k.ranges, p), p % 2 == 0) << p;
}

// A set whose run lies outside the ranges (a torn or foreign table) allows nothing.
TEST(PortSetTableTest, KernelFormWithAMissingRunAllowsNothing) {
  wd_portset s{};
  s.count = 5;
  s.first = 3;
  std::vector<wd_port_range> ranges = {{0, 65535}, {0, 65535}};
  for (uint32_t p : {0u, 80u, 65535u}) EXPECT_FALSE(KernelPortsetHas(s, ranges, p));
  EXPECT_THAT(KernelPortsetRanges(s, ranges), IsEmpty());
}

TEST(PortSetTableTest, KernelFormIndexedById) {
  PortSetTable t;
  uint16_t a = *t.Intern({{22, 22}});
  uint16_t b = *t.Intern({{80, 80}});
  uint16_t u = *t.Union(a, b);
  KernelPortsets k = Kernel(t);
  ASSERT_EQ(k.sets.size(), 5u);
  EXPECT_TRUE(KernelPortsetHas(k.sets[a], k.ranges, 22));
  EXPECT_FALSE(KernelPortsetHas(k.sets[a], k.ranges, 80));
  EXPECT_FALSE(KernelPortsetHas(k.sets[b], k.ranges, 22));
  EXPECT_TRUE(KernelPortsetHas(k.sets[b], k.ranges, 80));
  EXPECT_TRUE(KernelPortsetHas(k.sets[u], k.ranges, 22));
  EXPECT_TRUE(KernelPortsetHas(k.sets[u], k.ranges, 80));
  EXPECT_EQ(Count(k, u), 2);
}

// Freed ids are reused, lowest first, before the table grows; a freed set's content and every
// union that named it are forgotten; the reserved sets are never freed.
TEST(PortSetTableTest, FreedIdsAreReusedLowestFirst) {
  PortSetTable t;
  uint16_t a = *t.Intern({{80, 80}});
  uint16_t b = *t.Intern({{443, 443}});
  uint16_t ab = *t.Union(a, b);
  uint16_t c = *t.Intern({{53, 53}});
  ASSERT_EQ(t.size(), 6u);
  t.Free({ab, a, WD_PORTSET_EMPTY, WD_PORTSET_ALL});
  EXPECT_EQ(t.size(), 6u) << "freeing does not shrink the table";
  // A new set takes the lowest free id (a's), the next one ab's, then the table grows.
  uint16_t d = *t.Intern({{8080, 8080}});
  EXPECT_EQ(d, a);
  EXPECT_THAT(t.Ranges(d), ElementsAre(PortRange{8080, 8080}));
  uint16_t e = *t.Intern({{80, 80}});  // a's old content: a new set now
  EXPECT_EQ(e, ab);
  uint16_t f = *t.Intern({{9000, 9000}});
  EXPECT_EQ(f, 6u);
  // The union of b and the set now at a's old id is computed again, not the cached one.
  uint16_t bd = *t.Union(b, d);
  EXPECT_THAT(t.Ranges(bd), ElementsAre(PortRange{443, 443}, PortRange{8080, 8080}));
  // Untouched ids keep their sets, and the reserved ones are still there.
  EXPECT_EQ(*t.Intern({{53, 53}}), c);
  EXPECT_EQ(*t.Intern({}), WD_PORTSET_EMPTY);
  EXPECT_EQ(*t.Intern({{0, 65535}}), WD_PORTSET_ALL);
  // Freeing a free id again changes nothing.
  t.Free({a});
  t.Free({a});
  EXPECT_EQ(*t.Intern({{1, 1}}), a);
  EXPECT_EQ(*t.Intern({{2, 2}}), 8u);
}

// Ids are 16 bits: a table that would need more fails with an error instead of wrapping ids
// (or aborting), and stays usable for the sets it holds.
TEST(PortSetTableTest, InternFailsWhenIdsRunOut) {
  PortSetTable t;
  absl::StatusOr<uint16_t> id;
  for (uint32_t p = 0; t.size() < PortSetTable::kMaxSets; ++p) {
    id = t.Intern({{static_cast<uint16_t>(p), static_cast<uint16_t>(p)}});
    ASSERT_TRUE(id.ok()) << id.status();
  }
  absl::StatusOr<uint16_t> more = t.Intern({{1, 2}});
  EXPECT_EQ(more.status().code(), absl::StatusCode::kResourceExhausted) << more.status();
  EXPECT_EQ(t.size(), PortSetTable::kMaxSets);
  EXPECT_EQ(*t.Intern({{5, 5}}), *t.Intern({{5, 5}}));  // known sets still resolve
  EXPECT_FALSE(t.Union(*t.Intern({{5, 5}}), *t.Intern({{7, 7}})).ok());
}

}  // namespace
}  // namespace warden::policy
