// The egress gateway against real parts: mutual TLS from forwarder-like clients with node
// certificates, nginx serving HTTPS with lab-CA certificates, and the gateway's own access log.
// Rows 1-6 and 15-17 of the reference scenario at the gateway, plus the HTTP/1.1 and TLS details
// the issue names (keep-alive, pipelining, chunked bodies, 100-continue, limits, upstream reuse,
// certificate names, passthrough by SNI).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/policy/ip.h"
#include "tests/gateway/gateway_fixture.h"
#include "tests/gateway/gateway_manifests.h"
#include "tests/lib/metrics_endpoint.h"
#include "tests/lib/secret_volume.h"
#include "tests/lib/shell.h"

namespace warden::gateway_test {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using testing::HasSubstr;

class GatewayTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { f_ = new GatewayFixture(Manifests()); }
  static void TearDownTestSuite() {
    delete f_;
    f_ = nullptr;
  }
  void SetUp() override { f_->SetManifests(Manifests()); }

  // The access-log entries (parsed) where every field of `want` has its value; waits a moment
  // for `at_least` of them (the log is written every 100 ms).
  std::vector<nlohmann::json> Logged(const std::map<std::string, std::string>& want,
                                     size_t at_least = 1) {
    std::vector<nlohmann::json> out;
    for (int i = 0; i < 40; ++i) {
      out.clear();
      for (const auto& l : f_->AccessLog()) {
        auto j = nlohmann::json::parse(l);
        bool all = true;
        for (const auto& [k, v] : want) all = all && j[k].is_string() && j[k] == v;
        if (all) out.push_back(j);
      }
      if (out.size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }
  static GatewayFixture* f_;
};
GatewayFixture* GatewayTest::f_ = nullptr;

// Row 1: team-x's plain HTTP to example.com leaves as HTTPS (verified, SNI), answered 200; the
// access log names the source as Istio users read it.
TEST_F(GatewayTest, Row1AllowedRequestIsOriginatedAsTlsAndLogged) {
  auto c = f_->Open("default-1", "team-x", "app", 80, "app-x");
  c->Send(Get("example.com", "/", "x-request-id: row-1\r\n"));
  auto res = c->Read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "hello from example.com\n");
  auto logged = Logged({{"request_id", "row-1"}});
  ASSERT_EQ(logged.size(), 1u);
  const auto& e = logged[0];
  EXPECT_EQ(e["response_code"], 200) << e.dump();
  EXPECT_EQ(e["method"], "GET");
  EXPECT_EQ(e["authority"], "example.com");
  EXPECT_EQ(e["source_namespace"], "team-x");
  EXPECT_EQ(e["source_service_account"], "app-x");
  EXPECT_EQ(e["source_principal"], "cluster.local/ns/team-x/sa/app-x");
  EXPECT_EQ(e["source_node"], "default-1");
  EXPECT_EQ(e["upstream_cluster"], "outbound|80||example.com");
  EXPECT_EQ(e["upstream_host"], absl::StrCat("127.0.0.1:", f_->nginx_port()));
  EXPECT_EQ(e["policy"], "warden-egress/team-x-example-com");
  EXPECT_EQ(e["verdict"], "allow");
  EXPECT_TRUE(e["duration"].is_number());
  EXPECT_TRUE(e["upstream_service_time"].is_number());
  // nginx saw it over TLS with the right server name.
  EXPECT_THAT(f_->NginxLogOf("row-1"), testing::ElementsAre(HasSubstr(" example.com GET / 200")));
}

// Rows 2-6: what is not authorized is answered by the gateway, never sent upstream.
TEST_F(GatewayTest, Rows2To6RefusedAsIstioAnswers) {
  size_t nginx_before = f_->NginxLog().size();
  struct Case {
    std::string ns, node, host, path;
    unsigned status;
    std::string body;
  };
  const Case cases[] = {
      {"team-x", "default-1", "httpbin.org", "/status/418", 403, "RBAC: access denied"},
      {"team-y", "default-2", "httpbin.org", "/get", 403, "RBAC: access denied"},
      {"team-y", "default-2", "example.com", "/", 403, "RBAC: access denied"},
      {"team-x", "default-1", "unregistered.test", "/", 502, ""},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.ns + " " + k.host + k.path);
    auto c = f_->Open(k.node, k.ns, "app", 80);
    c->Send(Get(k.host, k.path));
    auto res = c->Read();
    EXPECT_EQ(res.result_int(), k.status);
    EXPECT_EQ(res.body(), k.body);
  }
  EXPECT_EQ(f_->NginxLog().size(), nginx_before);
  auto unregistered = Logged({{"authority", "unregistered.test"}});
  ASSERT_FALSE(unregistered.empty());
  EXPECT_EQ(unregistered.back()["response_flags"], "NR");
  auto denied = Logged({{"authority", "httpbin.org"}});
  ASSERT_FALSE(denied.empty());
  EXPECT_EQ(denied.front()["response_code_details"], "rbac_access_denied_matched_policy[none]");
}

// Row 3: team-y may reach httpbin.org at /status/418 only; the teapot comes back.
TEST_F(GatewayTest, Row3TeamYGetsTheTeapot) {
  auto c = f_->Open("default-2", "team-y", "app", 80);
  c->Send(Get("httpbin.org", "/status/418"));
  auto res = c->Read();
  EXPECT_EQ(res.result_int(), 418u);
  EXPECT_EQ(res.body(), "teapot\n");
  // A path that normalizes elsewhere is judged by where it goes.
  c->Send(Get("httpbin.org", "/status/%2E%2E/get"));
  EXPECT_EQ(c->Read().result_int(), 403u);
}

// Row 15: nothing without a certificate of the control plane's CA gets in.
TEST_F(GatewayTest, Row15NoOrForeignCertificateIsRefused) {
  FlowClient none(f_->port(), "", "", f_->ca());
  EXPECT_FALSE(none.handshake_error().empty());
  FlowClient foreign(f_->port(), f_->foreign_cert(), f_->foreign_key(), f_->ca());
  EXPECT_FALSE(foreign.handshake_error().empty());
  // Both are logged as refused at the handshake.
  size_t handshakes = 0;
  for (int i = 0; i < 40 && handshakes < 2; ++i) {
    handshakes = 0;
    for (const auto& e : Logged({{"verdict", "refused"}}))
      handshakes += e["connection_termination_details"].get<std::string>().find(
                        "warden_tls_handshake") != std::string::npos;
    if (handshakes < 2) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(handshakes, 2u);
}

// A node's kubelet certificate (O=system:nodes, CN=system:node:NAME, from the cluster's CA, given
// with --client-ca) speaks for that node's pods, as a DNS SAN of Warden's own PKI does, and for
// no other node's; without --client-ca the cluster's CA is not trusted at all.
TEST_F(GatewayTest, AKubeletCertificateSpeaksForItsNodesPodsOnly) {
  std::string pki = std::filesystem::path(f_->ca()).parent_path().string();
  std::string cluster_ca = pki + "/cluster-ca.pem";
  auto made = testlib::Sh(absl::StrCat(
      "cd ", pki, " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes ",
      "-days 1 -subj /CN=kubernetes -keyout cluster-ca-key.pem -out cluster-ca.pem 2>/dev/null"));
  ASSERT_EQ(made.code, 0) << made.err;
  for (const char* node : {"default-1", "default-2"}) {
    std::string name = absl::StrCat("kubelet-", node);
    ASSERT_TRUE(
        testlib::IssueCertificateFiles({cluster_ca, pki + "/cluster-ca-key.pem",
                                        absl::StrCat("/O=system:nodes/CN=system:node:", node), ""},
                                       f_->cert(name), f_->key(name))
            .ok());
  }
  FlowClient untrusted(f_->port(), f_->cert("kubelet-default-2"), f_->key("kubelet-default-2"),
                       f_->ca());
  EXPECT_FALSE(untrusted.handshake_error().empty()) << "the cluster's CA was not given";
  auto gw = f_->StartAnother(1, {cluster_ca});
  auto own = f_->OpenAt(gw->port(), "kubelet-default-2", "team-y", "app", 80);
  own->Send(Get("httpbin.org", "/status/418", "x-request-id: kubelet-own\r\n"));
  EXPECT_EQ(own->Read().result_int(), 418u);
  EXPECT_EQ(f_->NginxLogOf("kubelet-own").size(), 1u);
  size_t nginx_before = f_->NginxLog().size();
  auto other = f_->OpenAt(gw->port(), "kubelet-default-1", "team-y", "app", 80);
  other->Send(Get("httpbin.org", "/status/418", "x-request-id: kubelet-other\r\n"));
  EXPECT_EQ(other->Read().result_int(), 0u);  // team-y/app runs on default-2: closed, no answer
  EXPECT_EQ(f_->NginxLog().size(), nginx_before) << "the upstream saw the refused request";
  EXPECT_THAT(f_->NginxLog(), testing::Not(testing::Contains(HasSubstr(" kubelet-other"))));
}

// Row 16: a node speaks only for its own pods.
TEST_F(GatewayTest, Row16ANodeClaimingAnotherNodesPodIsRefused) {
  size_t nginx_before = f_->NginxLog().size();
  auto c = f_->Open("default-1", "team-y", "app", 80);  // team-y/app runs on default-2
  c->Send(Get("httpbin.org", "/status/418"));
  EXPECT_EQ(c->Read().result_int(), 0u);  // closed, no answer
  auto refused = Logged({{"source_pod", "team-y/app"}, {"verdict", "refused"}});
  ASSERT_FALSE(refused.empty());
  EXPECT_THAT(refused.back()["connection_termination_details"].get<std::string>(),
              HasSubstr("warden_pod_not_on_node"));
  EXPECT_EQ(f_->NginxLog().size(), nginx_before);
  // An unknown pod is refused the same way.
  auto unknown = f_->Open("default-1", "team-x", "ghost", 80);
  unknown->Send(Get("example.com", "/"));
  EXPECT_EQ(unknown->Read().result_int(), 0u);
}

// Row 17: a policy change reaches the running gateway: the same keep-alive connection gets 403,
// then 200 once the AuthorizationPolicy is added.
TEST_F(GatewayTest, Row17APolicyChangeAppliesToTheNextRequest) {
  auto c = f_->Open("default-1", "team-x", "app", 80, "app-x");
  c->Send(Get("httpbin.org", "/get"));
  EXPECT_EQ(c->Read().result_int(), 403u);
  f_->SetManifests(Manifests(/*with_get=*/true));
  c->Send(Get("httpbin.org", "/get"));
  auto res = c->Read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "{\"host\":\"httpbin.org\"}\n");
  // The rule names app-x's principal: the pod's service account is the one the state holds,
  // whatever the flow header claims.
  auto other = f_->Open("default-1", "team-x", "app", 80, "other");
  other->Send(Get("httpbin.org", "/get"));
  EXPECT_EQ(other->Read().result_int(), 200u);
}

// Upstream connections are reused across pods and nodes, seen from nginx's side.
TEST_F(GatewayTest, UpstreamConnectionsAreReusedAcrossPods) {
  f_->SetManifests(Manifests(true));
  auto a = f_->Open("default-1", "team-x", "app", 80, "app-x");
  a->Send(Get("example.com", "/", "x-request-id: reuse-1\r\n"));
  ASSERT_EQ(a->Read().result_int(), 200u);
  auto b = f_->Open("default-1", "team-x", "app", 80, "app-x");
  b->Send(Get("example.com", "/", "x-request-id: reuse-2\r\n"));
  ASSERT_EQ(b->Read().result_int(), 200u);
  auto first = Logged({{"request_id", "reuse-1"}}), second = Logged({{"request_id", "reuse-2"}});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(first[0]["upstream_local_address"], second[0]["upstream_local_address"]);
  // nginx: the same connection number, its request count going up.
  auto seen_a = f_->NginxLogOf("reuse-1"), seen_b = f_->NginxLogOf("reuse-2");
  ASSERT_EQ(seen_a.size(), 1u);
  ASSERT_EQ(seen_b.size(), 1u);
  std::vector<std::string> la = absl::StrSplit(seen_a[0], ' '), lb = absl::StrSplit(seen_b[0], ' ');
  ASSERT_GE(la.size(), 2u);
  ASSERT_GE(lb.size(), 2u);
  EXPECT_EQ(la[0], lb[0]) << seen_a[0] << " / " << seen_b[0];
  EXPECT_NE(lb[1], "1") << seen_b[0];
}

// A server whose certificate does not name the host is refused: 502, and why.
TEST_F(GatewayTest, AnUpstreamCertificateForAnotherNameIsRefused) {
  auto c = f_->Open("default-1", "team-x", "app", 80);
  c->Send(Get("wrong.test", "/"));
  auto res = c->Read();
  EXPECT_EQ(res.result_int(), 502u);
  auto logged = Logged({{"authority", "wrong.test"}});
  ASSERT_FALSE(logged.empty());
  EXPECT_EQ(logged.back()["response_flags"], "UF");
  EXPECT_THAT(logged.back()["upstream_transport_failure_reason"].get<std::string>(),
              HasSubstr("hostname mismatch"));
}

// Keep-alive with pipelined requests: answered in order on the one connection.
TEST_F(GatewayTest, PipelinedRequestsAreAnsweredInOrder) {
  auto c = f_->Open("default-2", "team-y", "app", 80);
  c->Send(Get("httpbin.org", "/status/418") + Get("httpbin.org", "/get") +
          Get("httpbin.org", "/status/418"));
  EXPECT_EQ(c->Read().result_int(), 418u);
  EXPECT_EQ(c->Read().result_int(), 403u);
  EXPECT_EQ(c->Read().result_int(), 418u);
}

// Bodies stream through, chunked or sized; Expect: 100-continue is answered by the gateway.
TEST_F(GatewayTest, ChunkedBodiesAndExpectContinue) {
  auto c = f_->Open("default-1", "team-x", "app", 80);
  std::string chunk(20000, 'x');
  // Two chunks, the second sent after a pause: streamed, not waited for whole.
  c->Send(absl::StrCat("PUT /upload/chunked HTTP/1.1\r\nHost: example.com\r\n",
                       "Transfer-Encoding: chunked\r\nx-request-id: chunked\r\n\r\n4e20\r\n", chunk,
                       "\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  c->Send("3\r\nend\r\n0\r\n\r\n");
  EXPECT_EQ(c->Read().result_int(), 201u);
  auto logged = Logged({{"request_id", "chunked"}});
  ASSERT_EQ(logged.size(), 1u);
  EXPECT_EQ(logged[0]["bytes_received"], 20003);
  EXPECT_EQ(std::filesystem::file_size(f_->dir() + "/www/upload/chunked"), 20003u)
      << "nginx stored the whole body";

  c->Send(
      "PUT /upload/continued HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  auto interim = c->Read();
  EXPECT_EQ(interim.result_int(), 100u);
  c->Send("hello");
  EXPECT_EQ(c->Read().result_int(), 201u);
  EXPECT_EQ(std::filesystem::file_size(f_->dir() + "/www/upload/continued"), 5u);
}

// Answers without a body (HEAD's, 204) keep the connection's framing right for the next request;
// a large body streams through whole; an HTTP/1.0 request is answered and its connection closed.
TEST_F(GatewayTest, BodilessAnswersLargeBodiesAndHttp10) {
  auto c = f_->Open("default-1", "team-x", "app", 80);
  c->Send("HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  auto head = c->Read(/*head=*/true);
  EXPECT_EQ(head.result_int(), 200u);
  EXPECT_EQ(head[boost::beast::http::field::content_length], "23") << head;
  c->Send(Get("example.com", "/empty"));
  EXPECT_EQ(c->Read().result_int(), 204u);
  c->Send(Get("example.com", "/"));
  auto after = c->Read();
  EXPECT_EQ(after.result_int(), 200u);
  EXPECT_EQ(after.body(), "hello from example.com\n") << "framing intact after HEAD and 204";

  // 3 MB from a file, through many records and chunks of the gateway's.
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 7919) % 26);
  std::ofstream(f_->dir() + "/www/upload/big.bin", std::ios::binary) << big;
  c->Send(Get("example.com", "/upload/big.bin"));
  auto res = c->Read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_TRUE(res.body() == big) << "got " << res.body().size() << " bytes";
  auto logged = Logged({{"path", "/upload/big.bin"}});
  ASSERT_FALSE(logged.empty());
  EXPECT_EQ(logged.back()["bytes_sent"], big.size());

  auto old = f_->Open("default-1", "team-x", "app", 80);
  old->Send("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n");
  auto r10 = old->Read();
  EXPECT_EQ(r10.result_int(), 200u);
  EXPECT_EQ(r10.body(), "hello from example.com\n");
  EXPECT_TRUE(old->ClosedWithin(2000)) << "an HTTP/1.0 request without keep-alive ends it";
}

// Several workers accept on one listening socket and every request is answered; a second gateway
// cannot take the port after its 5 s wait (no SO_REUSEPORT: it would silently
// get half the connections). Stopping with connections still open ends promptly.
TEST_F(GatewayTest, WorkersShareOnePortThatNoOtherProcessTakes) {
  auto gw = f_->StartAnother(/*workers=*/3);
  std::vector<std::unique_ptr<FlowClient>> conns;
  for (int i = 0; i < 12; ++i)
    conns.push_back(f_->OpenAt(gw->port(), "default-1", "team-x", "app", 80));
  for (int round = 0; round < 3; ++round) {
    for (auto& c : conns) c->Send(Get("example.com", "/"));
    for (auto& c : conns) EXPECT_EQ(c->Read().result_int(), 200u) << "round " << round;
  }
  gateway::GatewayProcessOptions o;
  o.control.cert = f_->cert("gateway-1");
  o.control.key = f_->key("gateway-1");
  o.control.ca = f_->ca();
  o.listen = absl::StrCat("127.0.0.1:", gw->port());
  o.access_log = f_->dir() + "/access-other.jsonl";
  const auto t0 = std::chrono::steady_clock::now();
  auto other = gateway::Gateway::Start(o);
  EXPECT_FALSE(other.ok()) << "a second gateway took a port in use";
  if (!other.ok()) {
    EXPECT_THAT(std::string(other.status().message()), HasSubstr("--listen"));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  const auto stop = std::chrono::steady_clock::now();
  gw.reset();  // twelve idle keep-alive connections still open
  EXPECT_LT(std::chrono::steady_clock::now() - stop, std::chrono::seconds(3));
  for (auto& c : conns) EXPECT_TRUE(c->ClosedWithin(1000));
  // --workers 0: one per CPU this process may run on.
  auto per_cpu = f_->StartAnother(/*workers=*/0);
  auto c = f_->OpenAt(per_cpu->port(), "default-1", "team-x", "app", 80);
  c->Send(Get("example.com", "/"));
  EXPECT_EQ(c->Read().result_int(), 200u);
}

// Stopping drains: nothing new is accepted (refused at once, so a forwarder tries another
// gateway), an idle keep-alive connection is closed at once, and a response under way is
// finished before its connection closes.
TEST_F(GatewayTest, StoppingFinishesResponsesUnderWayAndClosesIdleConnections) {
  auto gw = f_->StartAnother(/*workers=*/1);
  const uint16_t port = gw->port();
  // 32 MB: more than the kernel's buffers hold, so most of it is still to send at the stop.
  std::string big(32 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + (i * 31) % 26);
  std::ofstream(f_->dir() + "/www/upload/drain.bin", std::ios::binary) << big;
  auto idle = f_->OpenAt(port, "default-1", "team-x", "app", 80);
  idle->Send(Get("example.com", "/"));
  ASSERT_EQ(idle->Read().result_int(), 200u);
  auto busy = f_->OpenAt(port, "default-1", "team-x", "app", 80);
  busy->Send(Get("example.com", "/upload/drain.bin"));
  ASSERT_TRUE(busy->ReadableWithin(5000)) << "the response started";
  const uint16_t admin = gw->metrics_port();
  EXPECT_THAT(testlib::HttpGet(admin, "/ready"), HasSubstr("200"));
  std::thread stop([&] { gw.reset(); });
  EXPECT_TRUE(idle->ClosedWithin(2000)) << "an idle connection is closed at the stop";
  // Draining: not ready (a Service stops sending it new connections).
  EXPECT_THAT(testlib::HttpGet(admin, "/ready"), HasSubstr("503 "));
  auto res = busy->Read();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_TRUE(res.body() == big) << "got " << res.body().size() << " of " << big.size();
  // Its header went out before the stop; the connection ends after it all the same.
  EXPECT_TRUE(busy->ClosedWithin(2000));
  stop.join();
  bool refused = false;
  try {
    FlowClient late(port, f_->cert("default-1"), f_->key("default-1"), f_->ca());
    refused = !late.handshake_error().empty();
  } catch (const std::exception&) {
    refused = true;  // the connect itself refused
  }
  EXPECT_TRUE(refused) << "nothing is accepted once stopped";
}

// Malformed and oversized requests get clear 4xx answers, nothing upstream.
TEST_F(GatewayTest, BadRequestsGetClearErrors) {
  size_t nginx_before = f_->NginxLog().size();
  {
    auto c = f_->Open("default-1", "team-x", "app", 80);
    c->Send("GET / HTTP/1.1\r\nUser-Agent: no-host\r\n\r\n");
    EXPECT_EQ(c->Read().result_int(), 400u);
  }
  {
    auto c = f_->Open("default-1", "team-x", "app", 80);
    c->Send(Get("example.com", "/a%00b"));
    EXPECT_EQ(c->Read().result_int(), 400u);
  }
  {
    auto c = f_->Open("default-1", "team-x", "app", 80);
    c->Send(Get("example.com", "/", absl::StrCat("x-big: ", std::string(70000, 'a'), "\r\n")));
    EXPECT_EQ(c->Read().result_int(), 431u);
  }
  {
    auto c = f_->Open("default-1", "team-x", "app", 80);
    std::string many;
    for (int i = 0; i < 150; ++i) absl::StrAppend(&many, "x-h", i, ": v\r\n");
    c->Send(Get("example.com", "/", many));
    EXPECT_EQ(c->Read().result_int(), 431u);
  }
  {
    auto c = f_->Open("default-1", "team-x", "app", 80);
    c->Send(
        "GET / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\nTransfer-Encoding: "
        "chunked\r\n\r\n");
    EXPECT_EQ(c->Read().result_int(), 400u) << "both framings: a smuggling attempt";
  }
  EXPECT_EQ(f_->NginxLog().size(), nginx_before);
}

// A flow header the gateway cannot read ends the connection, logged.
TEST_F(GatewayTest, AMalformedFlowHeaderIsRefused) {
  FlowClient c(f_->port(), f_->cert("default-1"), f_->key("default-1"), f_->ca());
  ASSERT_TRUE(c.handshake_error().empty());
  c.Send(std::string("\xff\xff\xff\xff\x0f", 5));
  EXPECT_TRUE(c.ClosedWithin(2000));
  bool logged = false;
  for (int i = 0; i < 40 && !logged; ++i) {
    for (const auto& e : Logged({{"verdict", "refused"}}))
      logged = logged || e["connection_termination_details"].get<std::string>().find(
                             "warden_flow_header") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(logged);
}

// TLS on 443 is passed through, authorized by identity + the ClientHello's server name: the pod's
// own TLS session reaches nginx end to end.
TEST_F(GatewayTest, TlsPassthroughIsAuthorizedBySni) {
  auto tls_get = [&](const std::string& ns, const std::string& node, const std::string& sni) {
    auto c = f_->Open(node, ns, "app", 443);
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.load_verify_file(f_->ca());
    ctx.set_verify_mode(asio::ssl::verify_peer);
    asio::ssl::stream<FlowClient::Tls&> inner(c->stream(), ctx);
    if (!sni.empty()) {
      SSL_set_tlsext_host_name(inner.native_handle(), sni.c_str());
      SSL_set1_host(inner.native_handle(), sni.c_str());
    }
    boost::system::error_code ec;
    inner.handshake(asio::ssl::stream_base::client, ec);
    if (ec) return 0u;
    asio::write(inner, asio::buffer(Get(sni, "/")), ec);
    boost::beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(inner, b, res, ec);
    return ec ? 0u : res.result_int();
  };
  EXPECT_EQ(tls_get("team-x", "default-1", "example.com"), 200u);
  EXPECT_EQ(tls_get("team-x", "default-1", "httpbin.org"), 0u) << "not authorized for team-x";
  EXPECT_EQ(tls_get("team-y", "default-2", "example.com"), 0u) << "not authorized for team-y";
  EXPECT_EQ(tls_get("team-x", "default-1", "unregistered.test"), 0u);
  EXPECT_EQ(tls_get("team-x", "default-1", ""), 0u) << "no SNI";
  auto passed = Logged({{"requested_server_name", "example.com"}});
  ASSERT_FALSE(passed.empty());
  EXPECT_EQ(passed.front()["verdict"], "allow");
  EXPECT_GT(passed.front()["bytes_sent"].get<int>(), 0);
  EXPECT_EQ(passed.front()["protocol"], "TLS");
}

// A forwarder's next connection resumes its TLS session (no full handshake), and the resumed
// session still carries the node's certificate: the pod-on-node check holds.
TEST_F(GatewayTest, ResumedSessionsKeepTheNodesIdentity) {
  asio::io_context io;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.load_verify_file(f_->ca());
  ctx.use_certificate_chain_file(f_->cert("default-1"));
  ctx.use_private_key_file(f_->key("default-1"), asio::ssl::context::pem);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  SSL_SESSION* session = nullptr;
  for (int i = 0; i < 2; ++i) {
    FlowClient::Tls s(io, ctx);
    if (session) SSL_set_session(s.native_handle(), session);
    s.next_layer().connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), f_->port()));
    s.handshake(asio::ssl::stream_base::client);
    nodestate::Flow flow{"team-x", "app", "app-x", 0, *policy::ParseIp("127.0.0.1"), 80, 9};
    asio::write(s, asio::buffer(nodestate::EncodeFlowHeader(flow) + Get("example.com", "/")));
    boost::beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);  // reading also takes the session tickets (TLS 1.3)
    EXPECT_EQ(res.result_int(), 200u) << "connection " << i;
    EXPECT_EQ(SSL_session_reused(s.native_handle()), i == 1 ? 1 : 0) << "connection " << i;
    if (!session) session = SSL_get1_session(s.native_handle());
    // A session is resumable only from a connection closed cleanly (close_notify both ways).
    boost::system::error_code ec;
    s.shutdown(ec);
  }
  SSL_SESSION_free(session);
}

// Metrics: Istio's request counter with its labels.
TEST_F(GatewayTest, MetricsCarryIstioLabels) {
  auto c = f_->Open("default-2", "team-y", "app", 80);
  c->Send(Get("httpbin.org", "/status/418"));
  ASSERT_EQ(c->Read().result_int(), 418u);
  std::string text;
  for (int i = 0; i < 20 && text.find("response_code=\"418\"") == std::string::npos; ++i)
    text = testlib::HttpGet(f_->metrics_port(), "/metrics");
  EXPECT_THAT(text, HasSubstr("istio_requests_total{reporter=\"source\""));
  EXPECT_THAT(text, HasSubstr("source_workload_namespace=\"team-y\""));
  EXPECT_THAT(text, HasSubstr("destination_service=\"httpbin.org\""));
  // The service's namespace is the registering ServiceEntry's (Istio's registry), not the
  // client's.
  EXPECT_THAT(text, HasSubstr("destination_service_namespace=\"warden-egress\""));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("destination_service_namespace=\"team-y\"")));
  EXPECT_THAT(text, HasSubstr("response_code=\"418\""));
  EXPECT_THAT(text, HasSubstr("istio_request_duration_milliseconds_bucket{"));
  EXPECT_THAT(text, HasSubstr("warden_gateway_ready 1"));
  EXPECT_THAT(testlib::HttpGet(f_->metrics_port(), "/ready"), HasSubstr("200"));
}

}  // namespace
}  // namespace warden::gateway_test
