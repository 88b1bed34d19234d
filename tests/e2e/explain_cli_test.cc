// Runs the real `warden explain` binary on manifests written to a temporary directory and
// checks its output formats and exit codes.
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/e2e_util.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using CliRun = ::warden::e2e::Result;
using ::warden::e2e::Warden;

class ExplainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("warden-cli-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    Write("cluster.yaml", R"(
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {ns: y}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec:
  containers: [{name: c, ports: [{name: web, containerPort: 80}, {name: dns, containerPort: 53, protocol: UDP}]}]
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec:
  containers: [{name: c, ports: [{name: web, containerPort: 8080}]}]
status: {podIP: 10.1.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: y, labels: {pod: a}}
spec:
  containers: [{name: c, ports: [{name: web, containerPort: 80}]}]
status: {podIP: 10.1.1.1}
)");
    Write("policy.yaml", R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-x, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: x}}}]
    ports: [{port: web}]
)");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  std::string M() const { return "--manifests " + dir_.string(); }

  fs::path dir_;
};

TEST_F(ExplainCli, TextVerdictAndReasons) {
  CliRun r = Warden("explain " + M() + " --from x/a --to x/b --port 8080");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("ALLOW"));
  EXPECT_THAT(r.out, HasSubstr("x/web-from-x ingress rule 0"));

  r = Warden("explain " + M() + " --from y/a --to x/b --port 8080");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("DENY"));
  EXPECT_THAT(r.out, HasSubstr("isolated for Ingress by x/web-from-x"));
}

TEST_F(ExplainCli, NamedPortResolvesOnDestination) {
  // "web" is 80 on x/a and 8080 on x/b.
  CliRun r = Warden("explain " + M() + " --from x/b --to x/a --port web --output json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["verdict"], "allow");
  EXPECT_EQ(j["resolved_port"], 80);
  EXPECT_EQ(j["ingress"]["policy"], "x/web-from-x");
  EXPECT_EQ(j["egress"]["isolated"], false);

  // Port 80 on x/b is not "web" there: denied.
  r = Warden("explain " + M() + " --from x/a --to x/b --port 80 --output json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["verdict"], "deny");
}

TEST_F(ExplainCli, AddressOfAPodIsThatPod) {
  CliRun r = Warden("explain " + M() + " --from y/a --to 10.1.0.2 --port 8080 --output json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["to"], "x/b");
  EXPECT_EQ(j["verdict"], "deny");
  EXPECT_EQ(j["ingress"]["applies"], true);
}

// Pods to the world meet the node-pool lockdown first, as in the kernel: on a default-pool node
// only what an --allow-world covers; on a gateway-pool node only gateway pods, on TCP 80/443.
TEST_F(ExplainCli, PodToWorldMeetsTheNodePoolLockdown) {
  Write("nodes.yaml", R"(
apiVersion: v1
kind: Node
metadata: {name: gw, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Pod
metadata: {name: g, namespace: warden-egress}
spec: {nodeName: gw, containers: [{name: c}]}
status: {podIP: 10.1.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: y}
spec: {nodeName: gw, containers: [{name: c}]}
status: {podIP: 10.1.2.2}
)");
  auto verdict = [&](const std::string& args) {
    CliRun r = Warden("explain " + M() + " " + args + " --output json");
    EXPECT_EQ(r.code, 0) << args << ": " << r.err;
    auto j = nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
    return std::make_pair(j.value("verdict", std::string()),
                          j["egress"].value("lockdown", std::string()));
  };
  // x/a is not isolated for egress: NetworkPolicy would allow; the lockdown does not.
  auto [v, why] = verdict("--from x/a --to 203.0.113.66 --port 443");
  EXPECT_EQ(v, "deny");
  EXPECT_THAT(why, HasSubstr("pool-lockdown"));
  EXPECT_THAT(why, HasSubstr("203.0.113.66:443/TCP"));
  // An allowance opens exactly its prefix, protocol and ports.
  const std::string allow = " --allow-world 203.0.113.0/25:443/TCP";
  EXPECT_EQ(verdict("--from x/a --to 203.0.113.66 --port 443" + allow).first, "allow");
  EXPECT_EQ(verdict("--from x/a --to 203.0.113.66 --port 444" + allow).first, "deny");
  EXPECT_EQ(verdict("--from x/a --to 203.0.113.200 --port 443" + allow).first, "deny");
  EXPECT_EQ(verdict("--from x/a --to 203.0.113.66 --port 443 --protocol UDP" + allow).first,
            "deny");
  // Inside the cluster nothing is locked down.
  EXPECT_EQ(verdict("--from x/a --to x/b --port 8080").first, "allow");
  // The gateway pool: gateway pods on TCP 80 and 443 only; other pods there not at all.
  EXPECT_EQ(verdict("--from warden-egress/g --to 203.0.113.66 --port 443").first, "allow");
  EXPECT_EQ(verdict("--from warden-egress/g --to 203.0.113.66 --port 80").first, "allow");
  EXPECT_EQ(verdict("--from warden-egress/g --to 203.0.113.66 --port 8443").first, "deny");
  EXPECT_EQ(verdict("--from y/other --to 203.0.113.66 --port 443").first, "deny");
  EXPECT_EQ(verdict("--from y/other --to 203.0.113.66 --port 443 --gateway-namespace y").first,
            "allow");
  // A bad allowance is refused, naming the flag.
  CliRun bad = Warden("explain " + M() + " --from x/a --to 203.0.113.66 --port 443 " +
                      "--allow-world 203.0.113.0/33");
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("--allow-world"));
}

TEST_F(ExplainCli, MatrixJsonSchema) {
  CliRun r =
      Warden("explain " + M() + " --matrix --ports 80,8080 --protocols TCP,UDP,SCTP --output json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j["results"].is_array());
  EXPECT_EQ(j["results"].size(), 3u * 2u * 2u * 3u);  // ordered pairs x ports x protocols
  int allowed = 0;
  for (const auto& row : j["results"]) {
    for (const char* k :
         {"from", "to", "port", "protocol", "verdict", "egress", "ingress", "reason"}) {
      ASSERT_TRUE(row.contains(k)) << k << " missing in " << row.dump();
    }
    EXPECT_NE(row["from"], row["to"]);
    EXPECT_TRUE(row["port"].is_number());
    bool both = row["egress"] == "allow" && row["ingress"] == "allow";
    EXPECT_EQ(row["verdict"] == "allow", both) << row.dump();
    if (row["verdict"] == "allow") ++allowed;
  }
  // Allowed: x/a->x/b TCP/8080, x/b->x/a TCP/80, and everything into y/a (not isolated):
  // 2 sources x 2 ports x 3 protocols = 12, so 14 in all.
  EXPECT_EQ(allowed, 14);
}

TEST_F(ExplainCli, MatrixText) {
  CliRun r = Warden("explain " + M() + " --matrix --ports 80 --protocols TCP");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("TCP/80"));
  EXPECT_THAT(r.out, HasSubstr("x/a"));
}

TEST_F(ExplainCli, BadFlagsExitTwo) {
  EXPECT_EQ(Warden("explain --from x/a --to x/b --port 80").code, 2);  // no --manifests
  CliRun r = Warden("explain " + M() + " --from x/zz --to x/b --port 80");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--from \"x/zz\""));
  r = Warden("explain " + M() + " --from x/a --to x/b --port 80 --protocol ICMP");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("--protocol"));
  r = Warden("explain " + M() + " --from x/a --to x/b --port nosuch");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("nosuch"));
  EXPECT_EQ(Warden("explain " + M() + " --from x/a --to x/b --port 0").code, 2);
  EXPECT_EQ(Warden("explain " + M() + " --from x/a --to x/b --port 80 --output yaml").code, 2);
  EXPECT_EQ(Warden("explain " + M() + " --matrix --protocols TCP,ICMP").code, 2);
  EXPECT_EQ(Warden("nosuchcommand").code, 2);
}

TEST_F(ExplainCli, InvalidManifestNamesFileLineFieldAndExitsTwo) {
  Write("zz-bad.yaml", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: bad, namespace: x}
spec:
  podSelector: {}
  egress:
  - to:
    - ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}
)");
  CliRun r = Warden("explain " + M() + " --from x/a --to x/b --port 8080");
  EXPECT_EQ(r.code, 2);
  EXPECT_THAT(r.err, HasSubstr("zz-bad.yaml:8"));
  EXPECT_THAT(r.err, HasSubstr("NetworkPolicy x/bad"));
  EXPECT_THAT(r.err, HasSubstr("spec.egress[0].to[0].ipBlock.except[0]"));
  // The rest still loads: the verdict is printed from the valid files (the bad policy, which
  // would have isolated x/a for egress, is not applied).
  EXPECT_THAT(r.out, ::testing::StartsWith("ALLOW"));
}

// A self-referencing symlink in the manifests directory once aborted `warden explain` (an
// exception from std::filesystem, SIGABRT). It is bad input like any other: reported with its
// path, exit status 2, and the verdicts come from the rest.
TEST_F(ExplainCli, SymlinkLoopIsReportedNotACrash) {
  fs::create_symlink("loop", dir_ / "loop");
  CliRun r = Warden("explain " + M() + " --matrix --ports 80 --protocols TCP --output json");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr((dir_ / "loop").string() + ": cannot follow this symlink: a "
                                                          "symlink loop"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("terminate")));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["results"].size(), 3u * 2u);  // ordered pairs of the three pods, TCP/80
}

}  // namespace

// On a default-pool node the forwarder takes a pod's world-bound TCP connects on its ports (80
// and 443 unless --forwarder-ports says otherwise) when the pod's egress admits a gateway pod and
// the gateway admits the node: explain says REDIRECT, and where each request is then decided.
// Anything else stays the lockdown's denial.
TEST_F(ExplainCli, AConnectTheForwarderTakesIsARedirectToTheGateway) {
  const std::string ref = std::string(WARDEN_SOURCE_DIR) + "/deploy/examples/reference";
  auto run = [&](const std::string& manifests, const std::string& args) {
    CliRun r = Warden("explain --manifests " + manifests + " " + args + " --output json");
    EXPECT_EQ(r.code, 0) << args << ": " << r.err;
    return nlohmann::json::parse(r.out.empty() ? "{}" : r.out);
  };
  nlohmann::json j = run(ref, "--from team-x/app --to 203.0.113.10 --port 80");
  EXPECT_EQ(j["verdict"], "redirect") << j.dump(1);
  EXPECT_EQ(j["redirect"]["taken"], true);
  EXPECT_EQ(j["redirect"]["node"], "default-1");
  EXPECT_EQ(j["redirect"]["gateway"], "warden-egress/gateway");
  EXPECT_THAT(j.value("then", ""), HasSubstr("--request 'GET http://HOST/PATH'"));
  EXPECT_EQ(j["egress"]["verdict"], "deny") << "the datapath's own decision stays a denial";
  EXPECT_EQ(run(ref, "--from team-x/app --to 203.0.113.10 --port 443")["verdict"], "redirect");
  // Other ports, UDP and IPv6 destinations are not the forwarder's.
  for (const std::string args : {"--port 8443", "--port 80 --protocol UDP"}) {
    nlohmann::json d = run(ref, "--from team-x/app --to 203.0.113.10 " + args);
    EXPECT_EQ(d["verdict"], "deny") << args;
    EXPECT_FALSE(d.contains("redirect")) << args;
  }
  EXPECT_FALSE(run(ref, "--from team-x/app --to 2001:db8::1 --port 80").contains("redirect"));
  // The ports are the agents' to choose.
  EXPECT_EQ(run(ref, "--from team-x/app --to 203.0.113.10 --port 80 --forwarder-ports none")
                .value("verdict", ""),
            "deny");
  EXPECT_EQ(run(ref, "--from team-x/app --to 203.0.113.10 --port 8443 --forwarder-ports 8443")
                .value("verdict", ""),
            "redirect");
  // A pod whose egress does not admit the gateway is not redirected: the denial, and why.
  fs::copy(ref, dir_ / "ref", fs::copy_options::recursive);
  std::string policies;
  {
    std::ifstream in(dir_ / "ref" / "10-team-x-policies.yaml");
    policies.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = policies.find("name: allow-egress-gateway");
  ASSERT_NE(at, std::string::npos);
  policies.replace(at, 26, "name: renamed-to-no-effect");
  const size_t port = policies.find("port: mtls", at);
  ASSERT_NE(port, std::string::npos);
  policies.replace(port, 10, "port: 15999");  // the gateway's port no longer admitted
  std::ofstream(dir_ / "ref" / "10-team-x-policies.yaml") << policies;
  nlohmann::json n = run((dir_ / "ref").string(), "--from team-x/app --to 203.0.113.10 --port 80");
  EXPECT_EQ(n["verdict"], "deny") << n.dump(1);
  EXPECT_EQ(n["redirect"]["taken"], false);
  EXPECT_THAT(n["redirect"].value("reason", ""), HasSubstr("egress"));
  // The text names the forwarder either way.
  CliRun text =
      Warden("explain --manifests " + ref + " --from team-x/app --to 203.0.113.10 --port 80");
  EXPECT_THAT(text.out, testing::StartsWith("REDIRECT  team-x/app"));
  EXPECT_THAT(text.out, HasSubstr("default-1's forwarder, then to warden-egress/gateway"));
}
