// The control plane over real gRPC and mutual TLS on loopback: snapshot then deltas, resync,
// certificates that may not ask for another node, plaintext and foreign clients refused, NACKs,
// invalid manifests that change nothing. No root needed.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "agent/common/files.h"
#include "agent/control/control_plane.h"
#include "agent/control/sync_server.h"
#include "agent/node/sync_client.h"
#include "agent/nodestate/gateway_state.h"
#include "agent/nodestate/wire.h"
#include "tests/e2e/e2e_util.h"
#include "tests/lib/secret_volume.h"
#include "tests/lib/yaml_text.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden::control {
namespace {

namespace fs = std::filesystem;
using common::ReadFile;
using nodestate::ApplyUpdate;
using nodestate::FullUpdate;

const char* kCluster = R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 10.10.0.11}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {cloud.google.com/gke-nodepool: gateway}}
spec: {podCIDR: 10.244.2.0/24}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {nodeName: n1}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
spec: {nodeName: n2}
status: {podIP: 10.244.2.10}
)";

const char* kPolicy = R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress: [{from: [{podSelector: {matchLabels: {app: b}}}], ports: [{port: 80}]}]
)";

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("warden-control-test-" + std::to_string(getpid()));
    fs::create_directories(root_ / "manifests");
    auto r = e2e::Sh(std::string(WARDEN_SOURCE_DIR) + "/scripts/gen-certs " +
                     (root_ / "pki").string() + " warden-control,IP:127.0.0.1 n1 n2");
    ASSERT_EQ(r.code, 0) << r.err;
    // A second CA, whose certificates the server must not accept.
    r = e2e::Sh(std::string(WARDEN_SOURCE_DIR) + "/scripts/gen-certs " +
                (root_ / "other").string() + " n1");
    ASSERT_EQ(r.code, 0) << r.err;
    Write("cluster.yaml", kCluster);
    Write("policy.yaml", kPolicy);
    ControlPlaneOptions o;
    o.pipeline.manifests = (root_ / "manifests").string();
    o.pipeline.node_states.allowances = {*policy::ParseAllowance("169.254.169.254/32:80/TCP")};
    // Room for 100 port sets: a small manifest can need more (ACompileThatDoesNotFit...).
    o.pipeline.limits.portsets = 100;
    cp_ = std::make_unique<ControlPlane>(o);
    cp_->Refresh(true);
    auto s =
        SyncServer::Start(cp_.get(), "127.0.0.1:0", Tls("warden-control"), /*heartbeat_ms=*/200);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  void TearDown() override {
    server_.reset();
    cp_.reset();
    fs::remove_all(root_);
  }
  TlsFiles Tls(const std::string& name, const std::string& pki = "pki") {
    fs::path d = root_ / pki;
    TlsFiles t;
    t.cert = (d / (name + ".pem")).string();
    t.key = (d / (name + "-key.pem")).string();
    t.ca = (root_ / "pki" / "ca.pem").string();
    return t;
  }
  void Write(const std::string& name, const std::string& text) {
    fs::path tmp = root_ / "manifests" / (name + ".tmp");
    std::ofstream(tmp) << text;
    fs::rename(tmp, root_ / "manifests" / name);
    // mtime granularity: make sure the fingerprint sees a change even within one tick.
    fs::last_write_time(root_ / "manifests" / name,
                        fs::file_time_type::clock::now() + std::chrono::seconds(++bump_));
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(server_->port()); }

  std::shared_ptr<grpc::Channel> Channel(const std::string& cert_name,
                                         const std::string& pki = "pki") {
    TlsFiles t = Tls(cert_name, pki);
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = *ReadFile((root_ / "pki" / "ca.pem").string());
    o.pem_cert_chain = *ReadFile(t.cert);
    o.pem_private_key = *ReadFile(t.key);
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("warden-control");
    return grpc::CreateCustomChannel(Address(), grpc::SslCredentials(o), args);
  }

  // Subscribes and returns the first Update, or the stream's error.
  struct Sub {
    std::unique_ptr<grpc::ClientContext> ctx = std::make_unique<grpc::ClientContext>();
    std::unique_ptr<v1::Sync::Stub> stub;
    std::unique_ptr<grpc::ClientReaderWriter<v1::SyncRequest, v1::SyncResponse>> stream;
    bool Next(v1::Update* u, int timeout_ms = 5000) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
      v1::SyncResponse r;
      while (std::chrono::steady_clock::now() < deadline && stream->Read(&r)) {
        if (r.has_update()) {
          *u = r.update();
          return true;
        }
      }
      return false;
    }
    bool NextGateway(v1::GatewayUpdate* u, int timeout_ms = 5000) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
      v1::SyncResponse r;
      while (std::chrono::steady_clock::now() < deadline && stream->Read(&r)) {
        if (r.has_gateway()) {
          *u = r.gateway();
          return true;
        }
      }
      return false;
    }
    void Ack(uint64_t v, bool ok, const std::string& err = "") {
      v1::SyncRequest req;
      req.mutable_ack()->set_version(v);
      req.mutable_ack()->set_ok(ok);
      req.mutable_ack()->set_error(err);
      stream->Write(req);
    }
  };
  std::unique_ptr<Sub> Subscribe(std::shared_ptr<grpc::Channel> ch, const std::string& node,
                                 uint64_t have = 0, v1::Role role = v1::ROLE_NODE) {
    auto s = std::make_unique<Sub>();
    s->ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    s->stub = v1::Sync::NewStub(ch);
    s->stream = s->stub->Stream(s->ctx.get());
    v1::SyncRequest req;
    req.mutable_subscribe()->set_node(node);
    req.mutable_subscribe()->set_role(role);
    req.mutable_subscribe()->set_have_version(have);
    s->stream->Write(req);
    return s;
  }

  fs::path root_;
  int bump_ = 0;
  std::unique_ptr<ControlPlane> cp_;
  std::unique_ptr<SyncServer> server_;
};

// The serial of the certificate the server presented on `ch` (a fresh subscription).
std::string ServerSerial(std::shared_ptr<grpc::Channel> ch) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stub = v1::Sync::NewStub(ch);
  auto stream = stub->Stream(&ctx);
  v1::SyncRequest req;
  req.mutable_subscribe()->set_node("n1");
  req.mutable_subscribe()->set_role(v1::ROLE_NODE);
  stream->Write(req);
  v1::SyncResponse r;
  stream->Read(&r);
  std::string serial;
  if (auto auth = ctx.auth_context()) {
    for (const auto& pem : auth->FindPropertyValues("x509_pem_cert"))
      serial = testlib::SerialOfPem(std::string(pem.data(), pem.size()));
  }
  ctx.TryCancel();
  return serial;
}

TEST_F(ControlTest, SnapshotThenDeltas) {
  auto sub = Subscribe(Channel("n1"), "n1");
  v1::Update u;
  ASSERT_TRUE(sub->Next(&u));
  EXPECT_TRUE(u.full());
  NodeState held;
  ASSERT_TRUE(ApplyUpdate(u, &held).ok());
  EXPECT_TRUE(held.SameContents(*cp_->Current("n1")));
  ASSERT_EQ(held.pods.count("x/a"), 1u);
  EXPECT_EQ(held.pods.count("x/b"), 0u) << "n1 gets only its own pods";
  EXPECT_EQ(held.node_addresses.size(), 1u);
  // The node-pool configuration travels with the state.
  EXPECT_EQ(held.pool, WD_POOL_DEFAULT);
  ASSERT_EQ(held.allowances.size(), 1u);
  EXPECT_EQ(held.allowances[0].ToString(), "169.254.169.254/32:80/TCP");
  EXPECT_EQ(cp_->Current("n2")->pool, WD_POOL_GATEWAY);
  sub->Ack(u.version(), true);

  // Widen the policy: only what changed travels, as a delta on the version held.
  Write("policy.yaml",
        std::string(kPolicy).replace(std::string(kPolicy).find("port: 80"), 8, "port: 81"));
  ASSERT_TRUE(cp_->Refresh());
  ASSERT_TRUE(sub->Next(&u));
  EXPECT_FALSE(u.full());
  EXPECT_EQ(u.base_version(), held.version);
  EXPECT_FALSE(u.has_node_config());
  EXPECT_LT(u.ipcache_size(), static_cast<int>(held.ipcache->size()));
  ASSERT_TRUE(ApplyUpdate(u, &held).ok());
  EXPECT_TRUE(held.SameContents(*cp_->Current("n1")));
  sub->Ack(u.version(), true);

  // A change that does not concern n1's state sends n1 nothing.
  uint64_t v = held.version;
  Write("zz-other.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n");
  cp_->Refresh();
  EXPECT_EQ(cp_->Current("n1")->version, v);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Acks were counted.
  EXPECT_GE(server_->stats().acked.load(), 2u);
  EXPECT_EQ(server_->stats().connected.load(), 1);
  EXPECT_NE(server_->RenderMetrics().find("warden_control_push_latency_ms_count 2"),
            std::string::npos)
      << server_->RenderMetrics();
}

TEST_F(ControlTest, ResyncFromTheVersionHeld) {
  auto sub = Subscribe(Channel("n1"), "n1");
  v1::Update u;
  ASSERT_TRUE(sub->Next(&u));
  NodeState held;
  ASSERT_TRUE(ApplyUpdate(u, &held).ok());
  sub->ctx->TryCancel();
  // Changes while disconnected; then resubscribe with the version held: a delta from it.
  Write("policy.yaml", std::string(kPolicy) + "  policyTypes: [Ingress, Egress]\n");
  ASSERT_TRUE(cp_->Refresh());
  auto again = Subscribe(Channel("n1"), "n1", held.version);
  ASSERT_TRUE(again->Next(&u));
  EXPECT_FALSE(u.full());
  EXPECT_EQ(u.base_version(), held.version);
  ASSERT_TRUE(ApplyUpdate(u, &held).ok());
  EXPECT_TRUE(held.SameContents(*cp_->Current("n1")));
  // A version the server does not know: a full snapshot.
  auto stranger = Subscribe(Channel("n1"), "n1", 987654);
  ASSERT_TRUE(stranger->Next(&u));
  EXPECT_TRUE(u.full());
  // Holding the current version: nothing to send (only heartbeats).
  auto current = Subscribe(Channel("n1"), "n1", held.version);
  EXPECT_FALSE(current->Next(&u, 700));
}

TEST_F(ControlTest, ANodeCertificateMayNotAskForAnotherNode) {
  auto sub = Subscribe(Channel("n1"), "n2");
  v1::Update u;
  EXPECT_FALSE(sub->Next(&u, 2000));
  grpc::Status st = sub->stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_GE(server_->stats().refused.load(), 1u);
}

// A kubelet's own client certificate (O=system:nodes, CN=system:node:NAME, from the cluster's
// CA) speaks for its node and no other; the same common name outside the nodes group, or in the
// group under another name form, speaks for none.
TEST_F(ControlTest, AKubeletCertificateSpeaksForItsNodeOnly) {
  auto issue = [&](const std::string& name, const std::string& subject) {
    fs::path d = root_ / "pki";
    ASSERT_TRUE(testlib::IssueCertificateFiles(
                    {(d / "ca.pem").string(), (d / "ca-key.pem").string(), subject, ""},
                    (d / (name + ".pem")).string(), (d / (name + "-key.pem")).string())
                    .ok());
  };
  issue("kubelet-n1", "/O=system:nodes/CN=system:node:n1");
  issue("not-a-node", "/O=developers/CN=system:node:n1");
  issue("bare-name", "/O=system:nodes/CN=n1");
  v1::Update u;
  auto own = Subscribe(Channel("kubelet-n1"), "n1");
  EXPECT_TRUE(own->Next(&u));
  EXPECT_TRUE(u.full());
  struct Refused {
    const char* cert;
    const char* node;
  } refused[] = {{"kubelet-n1", "n2"}, {"not-a-node", "n1"}, {"bare-name", "n1"}};
  for (const Refused& r : refused) {
    auto sub = Subscribe(Channel(r.cert), r.node);
    EXPECT_FALSE(sub->Next(&u, 2000)) << r.cert << " as " << r.node;
    EXPECT_EQ(sub->stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << r.cert << " as " << r.node;
  }
}

// A certificate renewed in place (cert-manager rewriting its Secret) is served from the next
// handshake on, and a client CA file that changes is trusted from then on, all without a
// restart; the CAs of several files are served as one bundle.
TEST_F(ControlTest, RenewedCertificatesAndCasAreTakenWithoutARestart) {
  fs::path live = root_ / "live";
  fs::create_directories(live);
  auto sh = [](const std::string& cmd) {
    auto r = e2e::Sh(cmd);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.err;
  };
  const std::string gen = std::string(WARDEN_SOURCE_DIR) + "/scripts/gen-certs ";
  sh("cp " + (root_ / "pki/warden-control.pem").string() + " " + (live / "cert.pem").string());
  sh("cp " + (root_ / "pki/warden-control-key.pem").string() + " " + (live / "key.pem").string());
  // A third CA, not trusted at first: its n1 certificate is refused until its CA file is given.
  sh(gen + (root_ / "third").string() + " n1");
  std::ofstream(live / "more-ca.pem") << *ReadFile((root_ / "other/ca.pem").string());
  TlsFiles tls{(live / "cert.pem").string(),
               (live / "key.pem").string(),
               (root_ / "pki/ca.pem").string(),
               {(live / "more-ca.pem").string()},
               std::chrono::seconds(1)};
  auto server = SyncServer::Start(cp_.get(), "127.0.0.1:0", tls, /*heartbeat_ms=*/200);
  ASSERT_TRUE(server.ok()) << server.status();
  uint16_t port = (*server)->port();
  auto channel = [&](const std::string& pki, const std::string& name) {
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = *ReadFile((root_ / "pki/ca.pem").string());
    o.pem_cert_chain = *ReadFile((root_ / pki / (name + ".pem")).string());
    o.pem_private_key = *ReadFile((root_ / pki / (name + "-key.pem")).string());
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("warden-control");
    return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port), grpc::SslCredentials(o),
                                     args);
  };
  v1::Update u;
  // Both CA files are trusted: the fixture's CA and the one in more-ca.pem.
  EXPECT_TRUE(Subscribe(channel("pki", "n1"), "n1")->Next(&u));
  EXPECT_TRUE(Subscribe(channel("other", "n1"), "n1")->Next(&u));
  EXPECT_FALSE(Subscribe(channel("third", "n1"), "n1")->Next(&u, 1000));
  std::string before = ServerSerial(channel("pki", "n1"));
  ASSERT_FALSE(before.empty());

  // Renewed: a new certificate for the same name, written beside and renamed over.
  fs::path renewed = root_ / "renewed";
  sh("mkdir -p " + renewed.string() + " && cp " + (root_ / "pki/ca.pem").string() + " " +
     (root_ / "pki/ca-key.pem").string() + " " + renewed.string() + " && " + gen +
     renewed.string() + " warden-control,IP:127.0.0.1");
  sh("cp " + (root_ / "renewed/warden-control.pem").string() + " " + (live / "cert.new").string() +
     " && cp " + (root_ / "renewed/warden-control-key.pem").string() + " " +
     (live / "key.new").string() + " && mv " + (live / "key.new").string() + " " +
     (live / "key.pem").string() + " && mv " + (live / "cert.new").string() + " " +
     (live / "cert.pem").string());
  // And the third CA given in place of the other.
  std::ofstream(live / "more-ca.new") << *ReadFile((root_ / "third/ca.pem").string());
  fs::rename(live / "more-ca.new", live / "more-ca.pem");
  std::string after;
  bool third_in = false;
  for (int i = 0; i < 60 && (after == before || after.empty() || !third_in); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    after = ServerSerial(channel("pki", "n1"));
    third_in = Subscribe(channel("third", "n1"), "n1")->Next(&u, 500);
  }
  EXPECT_FALSE(after.empty());
  EXPECT_NE(after, before) << "the renewed certificate is not served";
  EXPECT_TRUE(third_in) << "the changed client CA file is not trusted";
  EXPECT_FALSE(Subscribe(channel("other", "n1"), "n1")->Next(&u, 1000))
      << "the CA taken out of the file is still trusted";
}

// A gateway (on gateway-pool node n2) gets what it evaluates, whole, and every change of it; a
// node that is not a gateway-pool node may not ask for it.
TEST_F(ControlTest, AGatewayGetsItsStateAndEveryChange) {
  const std::string entry = R"(
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ex, namespace: warden-egress}
spec:
  hosts: [example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
)";
  auto allow = [](const std::string& ns) {
    return R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow, namespace: warden-egress}
spec:
  rules: [{from: [{source: {namespaces: [)" +
           ns + "]}}]}]\n";
  };
  Write("istio.yaml", entry + "---\n" + allow("x"));
  cp_->Refresh();
  auto sub = Subscribe(Channel("n2"), "n2", 0, v1::ROLE_GATEWAY);
  v1::GatewayUpdate u;
  ASSERT_TRUE(sub->NextGateway(&u));
  auto state = nodestate::ApplyGatewayUpdate(u);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->objects.service_entries.size(), 1u);
  EXPECT_EQ(state->objects.pods.size(), 2u);
  EXPECT_EQ(state->objects.authorization_policies.get()
                .at("warden-egress/allow")
                .rules[0]
                .from[0]
                .namespaces[0],
            "x");
  sub->Ack(u.version(), true);
  // A policy change: a new version, whole.
  Write("istio.yaml", entry + "---\n" + allow("y"));
  cp_->Refresh();
  v1::GatewayUpdate next;
  ASSERT_TRUE(sub->NextGateway(&next));
  EXPECT_GT(next.version(), u.version());
  state = nodestate::ApplyGatewayUpdate(next);
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->objects.authorization_policies.get()
                .at("warden-egress/allow")
                .rules[0]
                .from[0]
                .namespaces[0],
            "y");
  sub->Ack(next.version(), true);
  // A NetworkPolicy change gives the gateway nothing new.
  Write("policy.yaml", std::string(kPolicy) + "---\n" +
                           "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
                           "metadata: {name: q, namespace: x}\nspec: {podSelector: {}}\n");
  cp_->Refresh();
  EXPECT_EQ(cp_->CurrentGateway()->version, next.version());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->stats().acked.load() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_GE(server_->stats().acked.load(), 2u);

  auto not_gateway = Subscribe(Channel("n1"), "n1", 0, v1::ROLE_GATEWAY);
  EXPECT_FALSE(not_gateway->NextGateway(&u, 2000));
  grpc::Status st = not_gateway->stream->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
}

TEST_F(ControlTest, PlaintextAndForeignCertificatesAreRefused) {
  auto plain = Subscribe(grpc::CreateChannel(Address(), grpc::InsecureChannelCredentials()), "n1");
  v1::Update u;
  EXPECT_FALSE(plain->Next(&u, 2000));
  EXPECT_EQ(plain->stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  auto foreign = Subscribe(Channel("n1", "other"), "n1");
  EXPECT_FALSE(foreign->Next(&u, 2000));
  EXPECT_NE(foreign->stream->Finish().error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(server_->stats().pushed.load(), 0u);
}

TEST_F(ControlTest, NackIsCountedAndTheNextUpdateStartsFromWhatTheClientHolds) {
  auto sub = Subscribe(Channel("n1"), "n1");
  v1::Update u;
  ASSERT_TRUE(sub->Next(&u));
  NodeState held;
  ASSERT_TRUE(ApplyUpdate(u, &held).ok());
  sub->Ack(u.version(), true);
  Write("policy.yaml", std::string(kPolicy) + "  policyTypes: [Ingress, Egress]\n");
  ASSERT_TRUE(cp_->Refresh());
  ASSERT_TRUE(sub->Next(&u));
  sub->Ack(u.version(), false, "could not apply");  // the client keeps `held`
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(server_->stats().nacked.load(), 1u);
  Write("policy.yaml", kPolicy);
  ASSERT_TRUE(cp_->Refresh());
  ASSERT_TRUE(sub->Next(&u));
  EXPECT_EQ(u.base_version(), held.version)
      << "after a NACK the delta must start from the version ACKed";
  ASSERT_TRUE(ApplyUpdate(u, &held).ok());
  EXPECT_TRUE(held.SameContents(*cp_->Current("n1")));
}

TEST_F(ControlTest, InvalidManifestChangeKeepsTheLastGoodState) {
  uint64_t v = cp_->Current("n1")->version;
  Write("policy.yaml",
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
        "spec:\n  podSelector: {}\n  policyTypes: [Sideways]\n");
  cp_->Refresh();
  EXPECT_EQ(cp_->manifest_errors(), 1u);
  EXPECT_EQ(cp_->Current("n1")->version, v) << "an invalid file must not change any node's state";
  EXPECT_NE(server_->RenderMetrics().find("warden_control_manifest_errors 1"), std::string::npos);
}

// Valid manifests whose tables do not fit the datapath (more port sets than the 100 it holds):
// every node keeps its version, the error is counted, and a later fit compiles again.
TEST_F(ControlTest, ACompileThatDoesNotFitKeepsEveryNodesState) {
  const uint64_t v1 = cp_->Current("n1")->version, v2 = cp_->Current("n2")->version;
  std::string many = testlib::EgressPortsPolicy("x", "p", "{}", 110, 2000);
  Write("policy.yaml", many);
  EXPECT_FALSE(cp_->Refresh());
  EXPECT_EQ(cp_->manifest_errors(), 0u);
  EXPECT_EQ(cp_->compile_errors(), 1u);
  EXPECT_EQ(cp_->Current("n1")->version, v1);
  EXPECT_EQ(cp_->Current("n2")->version, v2);
  EXPECT_NE(server_->RenderMetrics().find("warden_control_compile_errors_total 1"),
            std::string::npos);
  Write("policy.yaml", kPolicy);
  cp_->Refresh();
  EXPECT_EQ(cp_->compile_errors(), 1u);
}

// An agent may hold version N from an earlier run of the control plane, or from the other
// replica it was connected to: no other run may give a state the same number, even one started
// in the same millisecond, or the agent would take a delta against the wrong base.
TEST_F(ControlTest, VersionsNeverRepeatAcrossRestartsOrReplicas) {
  ControlPlaneOptions o;
  o.pipeline.manifests = (root_ / "manifests").string();
  o.pipeline.node_states.allowances = {*policy::ParseAllowance("169.254.169.254/32:80/TCP")};
  std::set<uint64_t> seen;
  for (int run = 0; run < 20; ++run) {
    ControlPlane replica(o);
    replica.Refresh(true);
    for (const char* n : {"n1", "n2"}) {
      EXPECT_TRUE(seen.insert(replica.Current(n)->version).second) << "run " << run << " " << n;
    }
    EXPECT_TRUE(replica.Current("n1")->SameContents(*cp_->Current("n1")));
  }
  EXPECT_EQ(seen.count(cp_->Current("n1")->version), 0u);
}

// The agent's client: a malformed update is NACKed and never reaches the datapath; a good one
// is applied and ACKed.
TEST_F(ControlTest, ClientNacksMalformedUpdatesAndKeepsItsState) {
  // A Sync server of the test's own that sends one malformed update, then a good one.
  class Bad final : public v1::Sync::Service {
   public:
    explicit Bad(NodeState good) : good_(std::move(good)) {}
    std::vector<v1::Ack> acks;
    std::mutex mu;
    grpc::Status Stream(grpc::ServerContext*,
                        grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>* s) override {
      v1::SyncRequest req;
      if (!s->Read(&req)) return grpc::Status::OK;
      v1::SyncResponse bad;
      *bad.mutable_update() = FullUpdate(good_);
      // A port set that does not exist, named by the packed entries' first value.
      bad.mutable_update()->mutable_policy_entries()->set_tcp_portset(0, 9999);
      s->Write(bad);
      v1::SyncResponse ok;
      *ok.mutable_update() = FullUpdate(good_);
      s->Write(ok);
      while (s->Read(&req)) {
        if (!req.has_ack()) continue;
        std::lock_guard<std::mutex> l(mu);
        acks.push_back(req.ack());
      }
      return grpc::Status::OK;
    }
    NodeState good_;
  };
  NodeState good = *cp_->Current("n1");
  ASSERT_FALSE(good.policy.empty());
  Bad bad(good);
  grpc::SslServerCredentialsOptions so(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  so.pem_root_certs = *ReadFile((root_ / "pki" / "ca.pem").string());
  so.pem_key_cert_pairs.push_back(
      {*ReadFile(Tls("warden-control").key), *ReadFile(Tls("warden-control").cert)});
  int port = 0;
  grpc::ServerBuilder b;
  b.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(so), &port);
  b.RegisterService(&bad);
  auto server = b.BuildAndStart();
  ASSERT_GT(port, 0);
  std::vector<uint64_t> applied;
  std::mutex mu;
  TlsFiles t = Tls("n1");
  node::SyncClient client(
      {"127.0.0.1:" + std::to_string(port), "n1", t.cert, t.key, t.ca, "warden-control"},
      NodeState{}, [&](const NodeState& s) {
        std::lock_guard<std::mutex> l(mu);
        applied.push_back(s.version);
        return absl::OkStatus();
      });
  client.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> l(bad.mu);
      if (bad.acks.size() >= 2) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  client.Stop();
  server->Shutdown();
  std::lock_guard<std::mutex> l(bad.mu);
  ASSERT_EQ(bad.acks.size(), 2u);
  EXPECT_FALSE(bad.acks[0].ok());
  EXPECT_NE(bad.acks[0].error().find("port set 9999"), std::string::npos) << bad.acks[0].error();
  EXPECT_TRUE(bad.acks[1].ok());
  EXPECT_EQ(applied.size(), 1u) << "the malformed update must never reach the datapath";
  EXPECT_EQ(client.stats().nacks.load(), 1u);
  EXPECT_EQ(client.stats().version.load(), good.version);
}

// Full updates are built a few at a time across streams (they hold a node's whole state): many
// nodes subscribing at once, some giving up while they wait, still each get theirs, whole.
TEST_F(ControlTest, ManyNodesSubscribingAtOnceEachGetTheirWholeState) {
  auto ch1 = Channel("n1"), ch2 = Channel("n2");
  std::vector<std::unique_ptr<Sub>> subs, quitters;
  for (int i = 0; i < 24; ++i) {
    subs.push_back(Subscribe(i % 2 ? ch2 : ch1, i % 2 ? "n2" : "n1"));
    if (i % 3 == 0) {
      quitters.push_back(Subscribe(ch1, "n1"));
      quitters.back()->ctx->TryCancel();
    }
  }
  for (size_t i = 0; i < subs.size(); ++i) {
    v1::Update u;
    ASSERT_TRUE(subs[i]->Next(&u)) << "subscriber " << i;
    EXPECT_TRUE(u.full());
    NodeState held;
    ASSERT_TRUE(ApplyUpdate(u, &held).ok());
    EXPECT_TRUE(held.SameContents(*cp_->Current(i % 2 ? "n2" : "n1"))) << "subscriber " << i;
  }
}

// Hundreds of streams: each takes its full state, then the change as a delta on it, and ends
// with exactly the new state.
TEST_F(ControlTest, AChangeReachesHundredsOfStreamsAsDeltas) {
  auto ch1 = Channel("n1"), ch2 = Channel("n2");
  std::vector<std::unique_ptr<Sub>> subs;
  std::vector<NodeState> held(600);
  for (size_t i = 0; i < held.size(); ++i)
    subs.push_back(Subscribe(i % 2 ? ch2 : ch1, i % 2 ? "n2" : "n1"));
  for (size_t i = 0; i < subs.size(); ++i) {
    v1::Update u;
    ASSERT_TRUE(subs[i]->Next(&u)) << "subscriber " << i;
    ASSERT_TRUE(ApplyUpdate(u, &held[i]).ok());
    subs[i]->Ack(u.version(), true);
  }
  Write("policy.yaml",
        std::string(kPolicy).replace(std::string(kPolicy).find("port: 80"), 8, "port: 81"));
  ASSERT_TRUE(cp_->Refresh());
  size_t deltas = 0;
  for (size_t i = 0; i < subs.size(); ++i) {
    const char* node = i % 2 ? "n2" : "n1";
    if (held[i].SameContents(*cp_->Current(node))) continue;  // the change is not this node's
    v1::Update u;
    ASSERT_TRUE(subs[i]->Next(&u)) << "subscriber " << i;
    EXPECT_FALSE(u.full());
    ASSERT_TRUE(ApplyUpdate(u, &held[i]).ok());
    EXPECT_TRUE(held[i].SameContents(*cp_->Current(node))) << "subscriber " << i;
    ++deltas;
  }
  EXPECT_GE(deltas, subs.size() / 2) << "the change must concern at least one of the nodes";
}

// Enforcing a first state can take longer than the client's silence rule (160,000 addresses
// into BPF maps): the stream stays up through it, and the state is ACKed on the same stream.
TEST_F(ControlTest, ASlowApplyIsNotSilenceAndKeepsTheStream) {
  TlsFiles t = Tls("n1");
  node::SyncClientOptions o{Address(), "n1", t.cert, t.key, t.ca, "warden-control"};
  o.silence_ms = 300;
  std::atomic<int> applies{0};
  node::SyncClient client(o, NodeState{}, [&](const NodeState&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // four silences long
    ++applies;
    return absl::OkStatus();
  });
  client.Start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server_->stats().acked.load() < 1 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));  // heartbeats keep it up after
  client.Stop();
  EXPECT_EQ(server_->stats().acked.load(), 1u);
  EXPECT_EQ(client.stats().connects.load(), 1u) << "the stream was cancelled during the apply";
  EXPECT_EQ(applies.load(), 1) << "the state was sent again";
}

}  // namespace
}  // namespace warden::control
