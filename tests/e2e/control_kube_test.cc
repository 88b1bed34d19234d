// `warden control --kubeconfig` as a process against a stand-in API server: it serves no node
// before every kind is listed (and /ready says which it waits for), then each node its state from
// the API's objects, then each watched change as a delta; a kubeconfig it cannot trust is refused
// with a message naming the file. No root needed.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "gmock/gmock.h"
#include "tests/e2e/e2e_util.h"
#include "tests/lib/child_process.h"
#include "tests/lib/fake_api_server.h"
#include "tests/lib/metrics_endpoint.h"
#include "tests/lib/scratch_dir.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testlib::ApiExchange;
using testlib::ApiRequest;

std::string PodJson(const std::string& name, const std::string& app, const std::string& node,
                    const std::string& ip) {
  return absl::StrCat(R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")", name,
                      R"(","namespace":"x","labels":{"app":")", app, R"("}},"spec":{"nodeName":")",
                      node, R"("},"status":{"phase":"Running","podIP":")", ip, R"("}})");
}

const char* kNodes =
    R"({"kind":"Node","apiVersion":"v1","metadata":{"name":"n1"},"spec":{"podCIDR":"10.244.1.0/24"},)"
    R"("status":{"addresses":[{"type":"InternalIP","address":"10.10.0.11"}]}})";

class ControlKubeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testlib::ScratchDir(absl::StrCat("/tmp/warden-control-kube-", getpid()));
    root_ = dir_.path();
    auto r = e2e::Sh(std::string(WARDEN_SOURCE_DIR) + "/scripts/gen-certs " + root_ +
                     "/pki warden-control,IP:127.0.0.1 n1");
    ASSERT_EQ(r.code, 0) << r.err;
    api_ = std::make_unique<testlib::FakeApiServer>(
        root_ + "/api-pki", [this](const ApiRequest& q, ApiExchange& x) { Serve(q, x); });
    std::string ca;
    absl::Base64Escape(api_->ca_pem(), &ca);
    std::ofstream(root_ + "/kubeconfig")
        << "apiVersion: v1\nkind: Config\n"
        << "clusters: [{name: c, cluster: {server: '" << api_->url()
        << "', certificate-authority-data: " << ca << "}}]\n"
        << "users: [{name: u, user: {token: secret-token}}]\n"
        << "contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"
        << "current-context: ctx\n";
  }
  void TearDown() override {
    if (pid_ > 0) testlib::EndChild(pid_);
    api_->Stop();
  }

  void Serve(const ApiRequest& q, ApiExchange& x) {
    if (q.authorization != "Bearer secret-token")
      return x.Respond(401, testlib::StatusBody(401, "Unauthorized", "no token"));
    const std::string path = q.Path();
    if (path.find("istio.io") != std::string::npos)
      return x.Respond(404, testlib::StatusBody(404, "NotFound", "not served"));
    if (path == "/api/v1/pods" && !pods_allowed_)
      return x.Respond(403, testlib::StatusBody(403, "Forbidden", "pods is forbidden"));
    if (q.Param("watch") == "1") {
      if (q.Param("sendInitialEvents") == "true")
        return x.Respond(422, testlib::StatusBody(422, "Invalid", "resourceVersionMatch"));
      x.StartStream();
      if (path == "/api/v1/pods" && q.Param("resourceVersion") == "10") {
        while (!change_ && !x.Stopping()) x.Pause(20);
        x.Line(testlib::Event("MODIFIED", PodJson("a", "moved", "n1", "10.244.1.10")));
      }
      while (!x.Stopping()) x.Pause(50);
      return;
    }
    std::vector<std::string> items;
    if (path == "/api/v1/nodes") items = {kNodes};
    if (path == "/api/v1/pods") items = {PodJson("a", "a", "n1", "10.244.1.10")};
    x.Respond(200, testlib::ListBody("Thing", "v1", items, "10"));
  }

  void StartControl() {
    sync_port_ = testlib::FreePort();
    metrics_port_ = testlib::FreePort();
    std::string pki = root_ + "/pki/";
    pid_ = testlib::Spawn(
        {e2e::WardenBin(), "control", "--kubeconfig", root_ + "/kubeconfig", "--listen",
         absl::StrCat("127.0.0.1:", sync_port_), "--tls-cert", pki + "warden-control.pem",
         "--tls-key", pki + "warden-control-key.pem", "--client-ca", pki + "ca.pem", "--metrics",
         absl::StrCat("127.0.0.1:", metrics_port_)},
        root_ + "/control.log");
  }
  // The body of /ready once it is `want` (10 s at most), or the last one.
  std::string WaitReady(const std::string& want) {
    std::string body;
    for (int i = 0; i < 200; ++i) {
      std::string all = testlib::HttpGet(metrics_port_, "/ready");
      body = all.substr(std::min(all.size(), all.find("\r\n\r\n") + 4));
      if (body == want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return body;
  }

  testlib::ScratchDir dir_;
  std::string root_;
  std::unique_ptr<testlib::FakeApiServer> api_;
  std::atomic<bool> pods_allowed_{false}, change_{false};
  pid_t pid_ = -1;
  uint16_t sync_port_ = 0, metrics_port_ = 0;
};

TEST_F(ControlKubeTest, ServesNothingBeforeEveryKindIsListedThenTheStateAndEachChange) {
  StartControl();
  const std::string waiting = "waiting for the first list of: Pod\n";
  EXPECT_EQ(WaitReady(waiting), waiting) << testlib::LogTail(root_ + "/control.log");
  EXPECT_FALSE(testlib::Listening(sync_port_)) << "Sync served before the Pods were listed";
  pods_allowed_ = true;
  EXPECT_EQ(WaitReady("ready\n"), "ready\n") << testlib::LogTail(root_ + "/control.log");
  EXPECT_THAT(testlib::HttpGet(metrics_port_, "/metrics"),
              HasSubstr("warden_kube_synced{kind=\"Pod\"} 1"));

  std::string pki = root_ + "/pki/";
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = *common::ReadFile(pki + "ca.pem");
  o.pem_cert_chain = *common::ReadFile(pki + "n1.pem");
  o.pem_private_key = *common::ReadFile(pki + "n1-key.pem");
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("warden-control");
  auto ch = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", sync_port_),
                                      grpc::SslCredentials(o), args);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto stub = warden::v1::Sync::NewStub(ch);
  auto stream = stub->Stream(&ctx);
  warden::v1::SyncRequest req;
  req.mutable_subscribe()->set_node("n1");
  req.mutable_subscribe()->set_role(warden::v1::ROLE_NODE);
  ASSERT_TRUE(stream->Write(req));
  auto next_update = [&](warden::v1::Update* u) {
    warden::v1::SyncResponse r;
    while (stream->Read(&r))
      if (r.has_update()) return *u = r.update(), true;
    return false;
  };
  warden::v1::Update first;
  ASSERT_TRUE(next_update(&first)) << testlib::LogTail(root_ + "/control.log");
  EXPECT_TRUE(first.full());
  EXPECT_THAT(first.DebugString(), HasSubstr("x {app=a}"));
  warden::v1::SyncRequest ack;
  ack.mutable_ack()->set_version(first.version());
  ack.mutable_ack()->set_ok(true);
  ASSERT_TRUE(stream->Write(ack));
  // A watched change reaches the node as a delta from what it holds.
  change_ = true;
  warden::v1::Update second;
  ASSERT_TRUE(next_update(&second)) << testlib::LogTail(root_ + "/control.log");
  EXPECT_FALSE(second.full());
  EXPECT_EQ(second.base_version(), first.version());
  EXPECT_THAT(second.DebugString(), HasSubstr("x {app=moved}"));
  ctx.TryCancel();
}

TEST_F(ControlKubeTest, AKubeconfigThatCannotBeTrustedIsRefusedNamingTheFile) {
  std::ofstream(root_ + "/exec") << "clusters: [{name: c, cluster: {server: 'https://h', "
                                    "certificate-authority-data: eA==}}]\n"
                                    "users: [{name: u, user: {exec: {command: aws}}}]\n"
                                    "contexts: [{name: ctx, context: {cluster: c, user: u}}]\n"
                                    "current-context: ctx\n";
  std::ofstream(root_ + "/insecure") << "clusters: [{name: c, cluster: {server: 'https://h', "
                                        "insecure-skip-tls-verify: true}}]\n"
                                        "contexts: [{name: ctx, context: {cluster: c}}]\n"
                                        "current-context: ctx\n";
  std::ofstream(root_ + "/plain") << "clusters: [{name: c, cluster: {server: 'http://h:8080'}}]\n"
                                     "contexts: [{name: ctx, context: {cluster: c}}]\n"
                                     "current-context: ctx\n";
  std::string pki = root_ + "/pki/";
  std::string tls = " --tls-cert " + pki + "warden-control.pem --tls-key " + pki +
                    "warden-control-key.pem --client-ca " + pki + "ca.pem";
  struct Case {
    const char* file;
    const char* says;
  } cases[] = {{"exec", "exec or auth-provider plugin"},
               {"insecure", "insecure-skip-tls-verify is refused"},
               {"plain", "only https:// is accepted"}};
  for (const Case& c : cases) {
    auto r = e2e::Warden("control --kubeconfig " + root_ + "/" + c.file + tls);
    EXPECT_EQ(r.code, 2) << c.file << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(root_ + "/" + c.file)) << c.file;
    EXPECT_THAT(r.err, HasSubstr(c.says)) << c.file;
  }
  auto both = e2e::Warden("control --kubernetes --manifests /tmp" + tls);
  EXPECT_EQ(both.code, 2);
  EXPECT_THAT(both.err, HasSubstr("give one source"));
}

}  // namespace
}  // namespace warden
