// Tests of what a gateway is sent (agent/nodestate/gateway_state.h): through the wire and back,
// the gateway's compiled form decides every request as the control plane's would; a bad update
// is refused whole, naming the field; what a gateway saves comes back (agent/nodestate/store.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/egress/gateway_config.h"
#include "agent/egress/path_normalize.h"
#include "agent/nodestate/gateway_state.h"
#include "agent/nodestate/store.h"
#include "agent/policy/manifest_loader.h"

namespace warden::nodestate {
namespace {

using ::testing::HasSubstr;

const std::string kReference = std::string(WARDEN_SOURCE_DIR) + "/deploy/examples/reference";

egress::Request Get(const std::string& ns, const std::string& authority, const std::string& path) {
  egress::Request r;
  r.source = egress::SourceIdentity{ns, "default", ns + "/app"};
  r.port = 80;
  r.method = "GET";
  r.authority = authority;
  r.path = *egress::NormalizePath(path);
  return r;
}

// The reference scenario's gateway state at `version`, and its update.
struct Sent {
  policy::LoadResult loaded;
  GatewayState state;
  v1::GatewayUpdate update;
};
Sent ReferenceState(uint64_t version) {
  Sent s;
  s.loaded = policy::LoadManifestDir(kReference);
  EXPECT_TRUE(s.loaded.errors.empty());
  s.state = GatewayStateOf(s.loaded.state, GatewayScope{});
  s.state.version = version;
  GatewayUpdateOf(s.state, &s.update);
  return s;
}

TEST(GatewayStateTest, OverTheWireTheGatewayDecidesTheSame) {
  Sent sent = ReferenceState(7);
  const policy::LoadResult& r = sent.loaded;
  const v1::GatewayUpdate& u = sent.update;
  v1::GatewayUpdate parsed;
  ASSERT_TRUE(parsed.ParseFromString(u.SerializeAsString()));
  auto got = ApplyGatewayUpdate(parsed);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version, 7u);
  EXPECT_EQ(got->objects.service_entries.size(), 3u);
  EXPECT_EQ(got->objects.authorization_policies.size(), 2u);
  EXPECT_EQ(got->objects.pods.size(), r.state.pods.size());
  // The gateway's own labels travel; other pods' do not.
  EXPECT_EQ(got->objects.pods.at("warden-egress/gateway").labels.at("app"), "warden-gateway");
  EXPECT_TRUE(got->objects.pods.at("team-x/app").labels.empty());

  egress::GatewayConfig here(r.state, {}), there(got->objects, {});
  int decided = 0;
  for (const char* ns : {"team-x", "team-y", "kube-system"}) {
    for (const char* host : {"example.com", "www.example.com", "httpbin.org", "other.test"}) {
      for (const char* path : {"/", "/status/418", "/get"}) {
        egress::Request req = Get(ns, host, path);
        egress::GatewayVerdict a = here.Decide(req), b = there.Decide(req);
        EXPECT_EQ(a.verdict, b.verdict) << ns << " " << host << path;
        EXPECT_EQ(a.reason, b.reason) << ns << " " << host << path;
        EXPECT_EQ(a.upstream.tls, b.upstream.tls) << ns << " " << host << path;
        ++decided;
      }
    }
  }
  EXPECT_EQ(decided, 36);
  auto id = there.PodOnNode("default-1", "team-x/app");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->service_account, r.state.pods.at("team-x/app").service_account);
  EXPECT_FALSE(there.PodOnNode("default-2", "team-x/app").ok());
}

TEST(GatewayStateTest, ABadUpdateIsRefusedWhole) {
  policy::LoadResult r = policy::LoadManifestDir(kReference);
  GatewayState s = GatewayStateOf(r.state, GatewayScope{});
  s.version = 1;
  v1::GatewayUpdate good;
  GatewayUpdateOf(s, &good);
  ASSERT_TRUE(ApplyGatewayUpdate(good).ok());
  auto error = [&](auto edit) {
    v1::GatewayUpdate u = good;
    edit(&u);
    auto got = ApplyGatewayUpdate(u);
    return got.ok() ? std::string() : std::string(got.status().message());
  };
  EXPECT_THAT(error([](v1::GatewayUpdate* u) { u->set_version(0); }), HasSubstr("version"));
  EXPECT_THAT(error([](v1::GatewayUpdate* u) { u->mutable_service_entries(1)->set_hosts(0, "*"); }),
              HasSubstr("service_entries[1].hosts[0]"));
  EXPECT_THAT(
      error([](v1::GatewayUpdate* u) { *u->add_service_entries() = u->service_entries(0); }),
      HasSubstr("appears twice"));
  EXPECT_THAT(error([](v1::GatewayUpdate* u) { u->mutable_pods(2)->add_ips("abc"); }),
              HasSubstr("pods[2].ips"));
  EXPECT_THAT(error([](v1::GatewayUpdate* u) { u->mutable_pods(0)->clear_name(); }),
              HasSubstr("pods[0]"));
  EXPECT_THAT(
      error([](v1::GatewayUpdate* u) {
        u->mutable_authorization_policies(0)->mutable_rules(0)->mutable_to(0)->add_ports("x");
      }),
      HasSubstr("authorization_policies[0].rules[0].to[0].ports"));
}

// What a gateway saves (--state-dir) comes back the same; a damaged or foreign file is refused
// as such (the gateway then ignores it and waits for the control plane).
TEST(GatewayStateTest, ASavedStateComesBackAndADamagedOneIsRefused) {
  Sent sent = ReferenceState(42);
  const GatewayState& s = sent.state;
  const v1::GatewayUpdate& u = sent.update;
  const std::string dir = ::testing::TempDir() + "/gateway-store-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/gateway.state";
  EXPECT_TRUE(absl::IsNotFound(LoadGatewayState(path).status()));
  ASSERT_TRUE(SaveGatewayUpdate(u, path).ok());
  auto back = LoadGatewayState(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 42u);
  EXPECT_EQ(back->objects.authorization_policies.size(), s.objects.authorization_policies.size());
  EXPECT_EQ(back->objects.pods.size(), s.objects.pods.size());
  std::ofstream(path, std::ios::trunc) << "\xff\xff not a state";
  auto damaged = LoadGatewayState(path);
  EXPECT_TRUE(absl::IsDataLoss(damaged.status())) << damaged.status();
  EXPECT_THAT(std::string(damaged.status().message()), HasSubstr(path));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace warden::nodestate
