// The whole reference scenario end to end (issue 17), as a new user sees it in `scripts/demo`:
// three nodes in two pools, kube-dns, the control plane, the agents, two gateway replicas and an
// internet of nginx and echo hosts, all from deploy/examples/reference.
//   - the demo's table (scripts/demo-table, the very script the demo runs): every row of
//     ../shared/SCENARIO.md passes, rows 7-14 for both families;
//   - faults under continuous traffic (`warden lab faults`): the control plane, the agent of
//     team-x/app's node and a gateway replica are each SIGKILLed and started again while every
//     row keeps being tried; nothing denied gets through, counted by the senders and by the
//     receivers' own logs, and permitted traffic comes back.
// Needs root.
#include <unistd.h>

#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "tests/e2e/reference_lab.h"

namespace warden::e2e {
namespace {

class Scenario : public ::testing::Test {
 public:
  // As scripts/demo brings it up.
  static void SetUpTestSuite() { lab_ = ReferenceLab::Up("warden-scenario", "--serve-ports 8080"); }
  static void TearDownTestSuite() { lab_.Down(); }

 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces, cgroups, BPF)";
    ASSERT_TRUE(lab_.error.empty()) << lab_.error;
  }

  static ReferenceLab lab_;
};
ReferenceLab Scenario::lab_;

TEST_F(Scenario, EveryRowOfTheDemoTablePassesForBothFamilies) {
  Result r = Sh(std::string(WARDEN_SOURCE_DIR) + "/scripts/demo-table " + WardenBin() + " " +
                lab_.dir + " " + lab_.state);
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  std::map<std::string, std::string> rows;  // label -> its line
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    // Each row: its label padded to six columns, then the sender.
    if (line.size() > 7 && line[6] == ' ' && std::isdigit(static_cast<unsigned char>(line[0]))) {
      std::string label = line.substr(0, 6);
      label.erase(label.find_last_not_of(' ') + 1);
      rows[label] = line;
    }
  }
  const std::vector<std::string> want = {
      "1",     "2",  "3",     "4",   "5",      "6",  "7",  "7 v6",  "7b", "7b v6", "8",
      "8 v6",  "8b", "8b v6", "9",   "9 v6",   "10", "11", "11 v6", "12", "12 v6", "13",
      "13 v6", "14", "14 v6", "14b", "14b v6", "15", "16", "17",    "18"};
  for (const std::string& label : want) {
    ASSERT_TRUE(rows.count(label)) << "row " << label << " missing from the table:\n" << r.out;
    EXPECT_THAT(rows[label], testing::HasSubstr(" PASS")) << rows[label];
  }
  EXPECT_EQ(rows.size(), want.size()) << r.out;
  EXPECT_THAT(r.out, testing::HasSubstr("demo: every row PASSED"));
  // The evidence is the datapath's and the gateway's own: a refusal's verdict-log line, an
  // answer's access-log fields.
  EXPECT_THAT(rows["7 v6"], testing::HasSubstr("\"reason\":\"pool-lockdown\""));
  EXPECT_THAT(rows["11 v6"], testing::HasSubstr("\"reason\":\"policy-deny\""));
  EXPECT_THAT(rows["1"], testing::HasSubstr("\"policy\":\"warden-egress/team-x-example-com\""));
}

TEST_F(Scenario, FaultsUnderContinuousTrafficLetNothingDeniedThrough) {
  Result r = Warden("lab faults --output json --state " + lab_.state);
  ASSERT_FALSE(r.out.empty()) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(r.code, 0) << j.dump(1) << r.err;
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_EQ(j["denied_passed"], 0) << j["denied_passed_rows"].dump();
  EXPECT_GT(j["denied_attempts"].get<int>(), 100);
  ASSERT_EQ(j["faults"].size(), 3u) << j.dump(1);
  std::set<std::string> names;
  for (const auto& f : j["faults"]) {
    names.insert(f["name"].get<std::string>());
    EXPECT_GE(f["recovered_ms"].get<int64_t>(), 0) << f.dump();
    EXPECT_EQ(f["denied_passed"], 0) << f.dump();
    // Denied traffic was tried while the process was down, and refused.
    EXPECT_GT(f["denied_refused"].get<int>(), 10) << f.dump();
  }
  EXPECT_EQ(names, (std::set<std::string>{"control plane", "agent of default-1",
                                          "gateway replica warden-egress/gateway"}));
  // With the control plane down, agents and gateways go on with the state they have: nothing
  // permitted fails.
  EXPECT_EQ(j["faults"][0]["name"], "control plane");
  EXPECT_EQ(j["faults"][0]["permitted_failed"], 0) << j["faults"][0].dump();
  // An agent started again serves its forwarder before its programs have loaded (the verifier
  // takes about ten seconds here): permitted traffic is back within seconds of the restart, not
  // after the load (the programs the dead agent left attached kept enforcing meanwhile).
  EXPECT_EQ(j["faults"][1]["name"], "agent of default-1");
  EXPECT_LT(
      j["faults"][1]["recovered_ms"].get<int64_t>() - j["faults"][1]["restarted_ms"].get<int64_t>(),
      5000)
      << j["faults"][1].dump();
  // The receivers' own logs: no line of a denied row; lines of every permitted one (so the
  // logs are read right).
  ASSERT_EQ(j["receivers"].size(), 25u);
  for (const auto& c : j["receivers"]) {
    if (c["permitted"].get<bool>()) {
      EXPECT_GT(c["lines"].get<int64_t>(), 0) << c.dump();
    } else {
      EXPECT_EQ(c["lines"].get<int64_t>(), 0) << c.dump();
    }
  }
  // And the lab is whole again: row 1 from inside the pod.
  Result curl = Warden("lab exec --state " + lab_.state +
                       " --in team-x/app -- curl -s -o /dev/null -w '%{http_code}' --max-time 5 "
                       "--resolve example.com:80:203.0.113.10 http://example.com/");
  EXPECT_EQ(curl.out, "200");
}

}  // namespace
}  // namespace warden::e2e
