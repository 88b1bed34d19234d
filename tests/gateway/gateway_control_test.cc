// The gateway fed by the control plane over Sync (role gateway), as in a cluster: it waits for its
// first state (not ready, every flow refused), then takes each change without a restart. Row 17:
// an AuthorizationPolicy added to the manifests turns a 403 into a 200 within a second.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/control/control_plane.h"
#include "agent/control/sync_server.h"
#include "tests/gateway/gateway_fixture.h"
#include "tests/gateway/gateway_manifests.h"

namespace warden::gateway_test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

TEST(GatewayControlTest, Row17APolicyAddedReachesTheRunningGatewayWithinASecond) {
  GatewayFixture f(Manifests());  // the PKI and nginx; its own gateway is not used here
  const fs::path manifests = fs::path(f.dir()) / "manifests";
  fs::create_directories(manifests);
  auto write = [&](const std::string& yaml) {
    std::ofstream(manifests / "all.yaml.tmp") << f.Expand(yaml);
    fs::rename(manifests / "all.yaml.tmp", manifests / "all.yaml");
  };
  write(Manifests());
  control::ControlPlaneOptions co;
  co.pipeline.manifests = manifests.string();
  control::ControlPlane cp(co);
  cp.Refresh(true);
  control::TlsFiles tls;
  tls.cert = f.cert("warden-control");
  tls.key = f.key("warden-control");
  tls.ca = f.ca();
  auto server = control::SyncServer::Start(&cp, "127.0.0.1:0", tls, /*heartbeat_ms=*/200);
  ASSERT_TRUE(server.ok()) << server.status();

  gateway::GatewayProcessOptions o;
  o.control = {absl::StrCat("127.0.0.1:", (*server)->port()),
               "gateway-1",
               f.cert("gateway-1"),
               f.key("gateway-1"),
               f.ca(),
               "warden-control"};
  o.listen = "127.0.0.1:0";
  o.access_log = f.dir() + "/control-access.jsonl";
  o.upstream_ca = f.ca();
  auto gw = gateway::Gateway::Start(o);
  ASSERT_TRUE(gw.ok()) << gw.status();
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!(*gw)->ready() && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE((*gw)->ready()) << "no state from the control plane";

  FlowClient c((*gw)->port(), f.cert("default-1"), f.key("default-1"), f.ca());
  ASSERT_EQ(c.handshake_error(), "");
  nodestate::Flow flow{"team-x", "app", "app-x", 0, *policy::ParseIp("127.0.0.1"), 80, 1};
  c.SendHeader(flow);
  c.Send(Get("httpbin.org", "/get"));
  EXPECT_EQ(c.Read().result_int(), 403u);
  c.Send(Get("example.com", "/"));
  EXPECT_EQ(c.Read().result_int(), 200u) << "the state came from the control plane";

  // The operator adds the policy; the control plane sees the change (its watch loop calls
  // Refresh) and pushes it; the gateway's next request is decided on it.
  const auto added = Clock::now();
  write(Manifests(/*with_get=*/true));
  cp.Refresh();
  unsigned status = 0;
  while (Clock::now() - added < std::chrono::seconds(3)) {
    c.Send(Get("httpbin.org", "/get"));
    status = c.Read().result_int();
    if (status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - added);
  EXPECT_EQ(status, 200u);
  EXPECT_LT(took.count(), 1000) << "row 17: within 1 s";
  EXPECT_GE((*server)->stats().acked.load(), 2u);
}

}  // namespace
}  // namespace warden::gateway_test
