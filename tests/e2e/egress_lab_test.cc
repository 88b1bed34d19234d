// Issue 15 on the lab, end to end with real parts: pods' plain HTTP carried by their node's
// forwarder to `warden gateway` over mutual TLS, authorized there, sent on as HTTPS to nginx
// (certificates of the lab CA). Rows 1-6 from inside the pods, checked from both ends (the pod's
// status, the gateway's access log, nginx's own log); rows 15-16 spoken to the gateway's port by
// hand from a node; row 17 by editing the manifests the control plane watches; the forwarders
// spreading flows over the two gateway replicas and failing over when one is killed; and every
// replica killed: nothing leaves directly meanwhile, and traffic resumes once they are back.
// Needs root.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/reference_lab.h"

namespace warden::e2e {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class EgressLab : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    lab_ = ReferenceLab::Up("warden-egress-lab");
    dir_ = lab_.dir;
    state_ = lab_.state;
    up_error_ = lab_.error;
  }
  static void TearDownTestSuite() { lab_.Down(); }

 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces, cgroups, BPF)";
    ASSERT_TRUE(up_error_.empty()) << up_error_;
  }

  // The status curl in pod `from` gets for `url` (its host resolved to `ip`), or 0.
  static int Curl(const std::string& from, const std::string& url, const std::string& ip,
                  int max_time = 5) {
    std::string host = url.substr(7, url.find('/', 7) - 7);
    Result r = Warden("lab exec --state " + state_ + " --in " + from +
                      " -- curl -s -o /dev/null -w '%{http_code}' --max-time " +
                      std::to_string(max_time) + " --resolve " + host + ":80:" + ip + " " + url);
    return std::atoi(r.out.c_str());
  }
  // The lab's gateway replicas (state.json's "gateways": pod, access_log, pid).
  static std::vector<nlohmann::json> Gateways() {
    const nlohmann::json lab = nlohmann::json::parse(std::ifstream(state_ + "/state.json"));
    std::vector<nlohmann::json> out;
    for (const auto& g : lab["gateways"]) out.push_back(g);
    return out;
  }
  // Every replica's access log, each entry with the replica's pod as "_replica".
  static std::vector<nlohmann::json> Access() {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));  // the log's flush
    std::vector<nlohmann::json> out;
    for (const auto& g : Gateways()) {
      std::ifstream in(g["access_log"].get<std::string>());
      for (std::string l; std::getline(in, l);) {
        out.push_back(nlohmann::json::parse(l));
        out.back()["_replica"] = g["pod"];
      }
    }
    return out;
  }
  // How many access-log entries each replica has.
  static std::map<std::string, size_t> PerReplica() {
    std::map<std::string, size_t> n;
    for (const auto& g : Gateways()) n[g["pod"]] = 0;
    for (const auto& e : Access()) ++n[e["_replica"]];
    return n;
  }
  // The lines of lab log `log`, waiting up to 2 s for `at_least` of them: nginx writes a
  // request's line after answering it, so the client can be faster than the log.
  static std::vector<std::string> Lines(const std::string& log, size_t at_least = 0) {
    std::vector<std::string> out;
    for (int i = 0; i < 40; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      out.clear();
      std::ifstream in(state_ + "/logs/" + log);
      for (std::string l; std::getline(in, l);) out.push_back(l);
      if (out.size() >= at_least) break;
    }
    return out;
  }

  static ReferenceLab lab_;
  static std::string dir_, state_, up_error_;
};
ReferenceLab EgressLab::lab_;
std::string EgressLab::dir_, EgressLab::state_, EgressLab::up_error_;

TEST_F(EgressLab, Rows1To6FromInsideThePods) {
  const size_t nginx_before = Lines("internet-https.log").size();
  struct Row {
    const char* from;
    const char* url;
    const char* ip;
    int status;
  };
  const Row rows[] = {
      {"team-x/app", "http://example.com/", "203.0.113.10", 200},
      {"team-x/app", "http://httpbin.org/status/418", "203.0.113.20", 403},
      {"team-y/app", "http://httpbin.org/status/418", "203.0.113.20", 418},
      {"team-y/app", "http://httpbin.org/get", "203.0.113.20", 403},
      {"team-y/app", "http://example.com/", "203.0.113.10", 403},
      {"team-x/app", "http://unregistered.test/", "203.0.113.66", 502},
  };
  for (const auto& r : rows)
    EXPECT_EQ(Curl(r.from, r.url, r.ip), r.status) << r.from << " " << r.url;
  // The gateway saw each as the pod's, attested.
  auto log = Access();
  auto find = [&](const std::string& pod, const std::string& host, int code) {
    for (const auto& e : log) {
      if (e["source_pod"] == pod && e["authority"] == host && e["response_code"] == code) return e;
    }
    return nlohmann::json();
  };
  nlohmann::json row1 = find("team-x/app", "example.com", 200);
  ASSERT_FALSE(row1.is_null()) << "row 1 is not in the gateway's access log";
  EXPECT_EQ(row1["source_namespace"], "team-x");
  EXPECT_EQ(row1["source_service_account"], "app-x");
  EXPECT_EQ(row1["source_node"], "default-1");
  EXPECT_EQ(row1["upstream_host"], "203.0.113.10:443") << "TLS originated to example.com:443";
  EXPECT_FALSE(find("team-y/app", "httpbin.org", 418).is_null());
  EXPECT_FALSE(find("team-x/app", "unregistered.test", 502).is_null());
  // nginx saw only what was allowed (rows 1 and 3), over TLS with the host's name.
  auto nginx = Lines("internet-https.log", nginx_before + 2);
  ASSERT_EQ(nginx.size(), nginx_before + 2) << "only rows 1 and 3 reach the internet";
  EXPECT_THAT(nginx[nginx_before], HasSubstr("sni=example.com \"GET / HTTP/1.1\" 200"));
  EXPECT_THAT(nginx[nginx_before + 1],
              HasSubstr("sni=httpbin.org \"GET /status/418 HTTP/1.1\" 418"));
}

// What the gateway answers on its mTLS port, spoken to from node `node` as a forwarder would:
// `cert` "" for none, else a node's certificate; the flow header names pod `ns/pod`. The HTTP
// status, or "refused".
std::string ByHand(const std::string& node, const std::string& cert, const std::string& ns,
                   const std::string& pod, const std::string& sa, const std::string& path,
                   const std::string& host, const std::string& state) {
  const nlohmann::json lab = nlohmann::json::parse(std::ifstream(state + "/state.json"));
  std::string gw;
  for (const auto& p : lab["pods"])
    if (p["key"] == "warden-egress/gateway") gw = p["ip"];
  // The flow header (proto/warden/v1/flow.proto) as octal escapes: fields 1-3 (strings), 5 (the
  // original address 203.0.113.20), 6 (port 80).
  auto field = [](int tag, const std::string& v) {
    char b[16];
    std::snprintf(b, sizeof(b), "\\%03o\\%03o", tag, static_cast<int>(v.size()));
    return b + v;
  };
  std::string body =
      field(10, ns) + field(18, pod) + field(26, sa) + "\\052\\004\\313\\000\\161\\024\\060\\120";
  char len[8];
  std::snprintf(len, sizeof(len), "\\%03o",
                static_cast<int>(ns.size() + pod.size() + sa.size() + 14));
  const std::string pki = state + "/pki";
  const std::string certs =
      cert.empty() ? ""
                   : " -cert " + pki + "/" + cert + ".pem -key " + pki + "/" + cert + "-key.pem";
  Result r =
      Warden("lab exec --state " + state + " --in node:" + node + " -- sh -c \"(printf '" + len +
             body + "'; printf 'GET " + path + " HTTP/1.1\\r\\nHost: " + host +
             "\\r\\nConnection: close\\r\\n\\r\\n') | timeout 5 openssl s_client -connect " + gw +
             ":15443 -CAfile " + pki + "/ca.pem" + certs + " -quiet 2>/dev/null | head -1\"");
  if (r.out.rfind("HTTP/1.1 ", 0) != 0) return "refused";
  return r.out.substr(9, 3);
}

TEST_F(EgressLab, Rows15And16OnlyNodesSpeakingForTheirOwnPodsGetIn) {
  EXPECT_EQ(ByHand("default-1", "", "team-x", "app", "app", "/", "example.com", state_), "refused");
  EXPECT_EQ(ByHand("default-1", "default-1", "team-y", "app", "default", "/status/418",
                   "httpbin.org", state_),
            "refused")
      << "team-y/app runs on default-2";
  EXPECT_EQ(ByHand("default-2", "default-2", "team-y", "app", "default", "/status/418",
                   "httpbin.org", state_),
            "418")
      << "its own node may speak for it";
  bool handshake = false, elsewhere = false;
  for (const auto& e : Access()) {
    std::string d = e["connection_termination_details"].is_string()
                        ? e["connection_termination_details"].get<std::string>()
                        : "";
    handshake = handshake || d.find("warden_tls_handshake") != std::string::npos;
    elsewhere = elsewhere || d.find("warden_pod_not_on_node: pod team-y/app runs on default-2") !=
                                 std::string::npos;
  }
  EXPECT_TRUE(handshake);
  EXPECT_TRUE(elsewhere);
}

TEST_F(EgressLab, Row17APolicyAddedIsInForceWithinASecond) {
  ASSERT_EQ(Curl("team-x/app", "http://httpbin.org/get", "203.0.113.20"), 403);
  std::ofstream(dir_ + "/50-team-x-get.yaml") << R"(apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: team-x-httpbin-get, namespace: warden-egress}
spec:
  selector: {matchLabels: {app: warden-gateway}}
  rules:
  - from: [{source: {namespaces: [team-x]}}]
    to: [{operation: {hosts: [httpbin.org], paths: [/get]}}]
)";
  const auto t0 = std::chrono::steady_clock::now();
  int status = 403;
  while (status != 200 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(3))
    status = Curl("team-x/app", "http://httpbin.org/get", "203.0.113.20");
  const auto took = std::chrono::steady_clock::now() - t0;
  fs::remove(dir_ + "/50-team-x-get.yaml");
  EXPECT_EQ(status, 200);
  EXPECT_LT(took, std::chrono::seconds(1)) << "row 17";
}

// Two pods, one upstream connection: the gateway's log shows both pods' requests on the same
// upstream connection, and nginx counts the requests on it. (Flows alternate between the two
// replicas, each with its own pool: app, worker, worker, app gives each replica one of each.)
TEST_F(EgressLab, UpstreamConnectionsAreReusedAcrossPods) {
  const size_t logged_before = Access().size();
  const size_t nginx_before = Lines("internet-https.log").size();
  for (const char* pod : {"team-x/app", "team-x/worker", "team-x/worker", "team-x/app"})
    ASSERT_EQ(Curl(pod, "http://example.com/", "203.0.113.10"), 200) << pod;
  std::vector<nlohmann::json> all = Access();
  ASSERT_GE(all.size(), logged_before + 4);
  std::map<std::string, std::set<std::string>> pods_by_connection;  // replica|upstream local
  for (const auto& e : all) {
    if (e["authority"] != "example.com" || !e["upstream_local_address"].is_string()) continue;
    pods_by_connection[e["_replica"].get<std::string>() + "|" +
                       e["upstream_local_address"].get<std::string>()]
        .insert(e["source_pod"].get<std::string>());
  }
  bool shared = false;
  for (const auto& [conn, pods] : pods_by_connection) shared = shared || pods.size() >= 2;
  EXPECT_TRUE(shared) << "no upstream connection carried requests of two pods";
  auto nginx = Lines("internet-https.log", nginx_before + 4);
  ASSERT_GE(nginx.size(), nginx_before + 4);
  EXPECT_THAT(nginx.back(), testing::ContainsRegex("req=([2-9]|[1-9][0-9]+) "))
      << "the last request came on a connection that had carried one before";
}

// Two replicas: the node's forwarder spreads flows over both; one killed under traffic, the
// other carries every flow (no request fails, nothing leaves directly); restarted, it is used
// again once its time out of the rotation has passed.
TEST_F(EgressLab, TheForwarderSpreadsFlowsAndFailsOverWhenAReplicaDies) {
  std::vector<nlohmann::json> gws = Gateways();
  ASSERT_EQ(gws.size(), 2u) << "the reference manifests run two gateway pods";
  const std::string a = gws[0]["pod"], b = gws[1]["pod"];
  auto before = PerReplica();
  for (int i = 0; i < 8; ++i)
    ASSERT_EQ(Curl("team-x/app", "http://example.com/", "203.0.113.10"), 200) << i;
  auto spread = PerReplica();
  EXPECT_GT(spread[a], before[a]) << "replica " << a << " carried none of 8 flows";
  EXPECT_GT(spread[b], before[b]) << "replica " << b << " carried none of 8 flows";

  const size_t internet_before = Lines("internet.log").size();
  ASSERT_EQ(kill(gws[1]["pid"].get<pid_t>(), SIGKILL), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto at_kill = PerReplica();
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(Curl("team-x/app", "http://example.com/", "203.0.113.10"), 200)
        << "flow " << i << " after " << b << " was killed: the forwarder fails over to " << a;
  auto after_kill = PerReplica();
  EXPECT_EQ(after_kill[a] - at_kill[a], 8u) << a << " carried every flow";
  EXPECT_EQ(after_kill[b], at_kill[b]);
  EXPECT_EQ(Lines("internet.log").size(), internet_before) << "nothing left directly";

  Result r = Warden("lab start-gateway --state " + state_ + " --pod " + b);
  ASSERT_EQ(r.code, 0) << r.err;
  // Back in the rotation once its time out of it (5 s) has passed.
  size_t b_now = PerReplica()[b];
  for (int i = 0; i < 40 && PerReplica()[b] == b_now; ++i) {
    EXPECT_EQ(Curl("team-x/app", "http://example.com/", "203.0.113.10"), 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  EXPECT_GT(PerReplica()[b], b_now) << b << " carries flows again after its restart";
}

// The control plane down and the gateways restarted meanwhile: each comes back deciding on the
// state it saved (--state-dir), both ways: what was allowed passes, what was denied stays denied.
TEST_F(EgressLab, GatewaysRestartedWithTheControlPlaneDownDecideOnTheirSavedState) {
  const nlohmann::json lab = nlohmann::json::parse(std::ifstream(state_ + "/state.json"));
  ASSERT_EQ(kill(lab["control"]["pid"].get<pid_t>(), SIGKILL), 0);
  for (const auto& g : Gateways()) ASSERT_EQ(kill(g["pid"].get<pid_t>(), SIGKILL), 0) << g;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  Result r = Warden("lab start-gateway --state " + state_);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(Sh("cat " + state_ + "/logs/gateway.log").out,
              HasSubstr("in force until the control plane answers"));
  EXPECT_EQ(Curl("team-x/app", "http://example.com/", "203.0.113.10"), 200);
  EXPECT_EQ(Curl("team-x/app", "http://httpbin.org/status/418", "203.0.113.20"), 403);
  EXPECT_EQ(Curl("team-y/app", "http://httpbin.org/status/418", "203.0.113.20"), 418);
  Result c = Warden("lab start-control --state " + state_);
  ASSERT_EQ(c.code, 0) << c.err;
}

// Every replica down: a pod's connection fails at once, and nothing leaves directly.
TEST_F(EgressLab, WithTheGatewaysDownNothingLeavesAndTrafficResumesAfter) {
  const size_t internet_before = Lines("internet.log").size() + Lines("internet-https.log").size();
  for (const auto& g : Gateways()) ASSERT_EQ(kill(g["pid"].get<pid_t>(), SIGKILL), 0) << g;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(Curl("team-x/app", "http://example.com/", "203.0.113.10", 3), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2))
      << "no gateway: the connection fails at once, not after a time-out";
  EXPECT_EQ(Lines("internet.log").size() + Lines("internet-https.log").size(), internet_before)
      << "nothing reached the internet while the gateways were down";
  Result r = Warden("lab start-gateway --state " + state_);
  ASSERT_EQ(r.code, 0) << r.err;
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    status = Curl("team-x/app", "http://example.com/", "203.0.113.10");
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(status, 200)
      << "traffic resumes once the gateways are back\n"
      << Sh("tail -5 " + state_ + "/logs/gateway.log").out
      << Sh("grep forwarder " + state_ + "/logs/default-1-verdicts.jsonl | tail -3").out
      << Sh("tail -3 " + state_ + "/logs/gateway-access.jsonl").out
      << Sh("tail -5 " + state_ + "/logs/default-1.log").out;
}

}  // namespace
}  // namespace warden::e2e
