// Runs the real `warden audit` on the reference scenario's manifests: its three formats, and what
// the scenario's teams can reach outside.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_util.h"

namespace {

using ::testing::HasSubstr;
using ::warden::e2e::Warden;

const std::string kReference = std::string(WARDEN_SOURCE_DIR) + "/deploy/examples/reference";
const std::string kWorld =
    " --allow-world 199.36.153.8/30:443/TCP --allow-world 169.254.169.254/32:80/TCP";

TEST(AuditCli, JsonNamesEachIdentitysExposure) {
  auto r = Warden("audit --manifests " + kReference + kWorld + " --output json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  bool team_y_app = false;
  for (const auto& id : j["identities"]) {
    if (id["namespace"] != "team-y" || id["service_account"] != "app-y") continue;
    team_y_app = true;
    ASSERT_EQ(id["gateway"].size(), 1u) << id.dump(1);
    EXPECT_EQ(id["gateway"][0]["host"], "httpbin.org");
    EXPECT_EQ(id["gateway"][0]["paths"], nlohmann::json::array({"/status/418"}));
    EXPECT_EQ(id["gateway"][0]["allowed_by"], "warden-egress/team-y-httpbin-418 rule 0");
    bool vip = false;
    for (const auto& d : id["direct"]) vip |= d["destination"] == "199.36.153.8/30";
    EXPECT_TRUE(vip) << id.dump(1);
  }
  EXPECT_TRUE(team_y_app) << r.out;
  // Port 443 of the registered hosts is TLS passthrough, and the reference's policies name
  // hosts (an HTTP field): nobody reaches them.
  EXPECT_THAT(j["unreachable_hosts"].dump(), HasSubstr("example.com:443"));
}

TEST(AuditCli, TextAndCsv) {
  auto r = Warden("audit --manifests " + kReference + kWorld);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("gateway  example.com:80 HTTP methods any paths any  "
                               "(warden-egress/team-x-example-com rule 0"));
  EXPECT_THAT(r.out, HasSubstr("registered hosts nobody can reach:"));
  r = Warden("audit --manifests " + kReference + kWorld + " --output csv");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("namespace,service_account,labels,pods,path,"));
  EXPECT_THAT(r.out, HasSubstr("team-y,app-y,app=app,team-y/app,gateway,httpbin.org,HTTP,80,any,"
                               "/status/418,,warden-egress/team-y-httpbin-418 rule 0,"));
}

TEST(AuditCli, BadFlags) {
  EXPECT_EQ(Warden("audit").code, 2);
  EXPECT_EQ(Warden("audit --manifests " + kReference + " --output yaml").code, 2);
  EXPECT_EQ(Warden("audit --manifests " + kReference + " --allow-world nonsense").code, 2);
}

}  // namespace
