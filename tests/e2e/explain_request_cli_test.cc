// Runs the real `warden explain --request/--requests` on the reference scenario's manifests
// (deploy/examples/reference: its ServiceEntries, DestinationRules and AuthorizationPolicies)
// and checks the gateway's answer for the scenario's rows 1-6 and 17.
#include <unistd.h>

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
using ::warden::e2e::Warden;

const std::string kReference = std::string(WARDEN_SOURCE_DIR) + "/deploy/examples/reference";

nlohmann::json Ask(const std::string& manifests, const std::string& from, const std::string& req,
                   const std::string& more = "") {
  auto r = Warden("explain --manifests " + manifests + " --from " + from + " --request '" + req +
                  "' --output json " + more);
  EXPECT_EQ(r.code, 0) << r.err;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST(ExplainRequestCli, TheScenariosRows) {
  struct Row {
    const char* from;
    const char* request;
    const char* verdict;
    int status;
    const char* policy;
  };
  const Row rows[] = {
      {"team-x/app", "GET http://example.com/", "allow", 200, "warden-egress/team-x-example-com"},
      {"team-x/app", "GET http://httpbin.org/status/418", "deny", 403, nullptr},
      {"team-y/app", "GET http://httpbin.org/status/418", "allow", 200,
       "warden-egress/team-y-httpbin-418"},
      {"team-y/app", "GET http://httpbin.org/get", "deny", 403, nullptr},
      {"team-y/app", "GET http://example.com/", "deny", 403, nullptr},
      {"team-x/app", "GET http://unregistered.test/", "unregistered", 502, nullptr},
      {"team-x/app", "GET http://www.example.com/", "allow", 200,
       "warden-egress/team-x-example-com"},
  };
  for (const Row& row : rows) {
    nlohmann::json j = Ask(kReference, row.from, row.request);
    EXPECT_EQ(j["verdict"], row.verdict) << row.from << " " << row.request << "\n" << j.dump(1);
    EXPECT_EQ(j["status"], row.status) << row.request;
    if (row.policy)
      EXPECT_EQ(j["policy"], row.policy) << row.request;
    else
      EXPECT_FALSE(j.contains("policy")) << row.request;
    // The hop to the gateway: the reference lets both teams reach it.
    EXPECT_EQ(j["hop"]["verdict"], "allow") << row.request << "\n" << j.dump(1);
  }
  // TLS origination for port 80 (the DestinationRule), to the ServicePort's targetPort.
  nlohmann::json j = Ask(kReference, "team-x/app", "GET http://example.com/");
  EXPECT_EQ(j["upstream"]["tls"], "SIMPLE");
  EXPECT_EQ(j["upstream"]["port"], 443);
  EXPECT_EQ(j["registered_by"], "warden-egress/example-com");
}

TEST(ExplainRequestCli, TextNamesTheDecision) {
  auto r = Warden("explain --manifests " + kReference +
                  " --from team-y/app --request 'GET http://httpbin.org/get'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith("DENY 403  team-y/app -> GET http://httpbin.org/get"));
  EXPECT_THAT(r.out, HasSubstr("registered by ServiceEntry warden-egress/httpbin-org"));
  EXPECT_THAT(r.out, HasSubstr("denied: no ALLOW policy matched"));
  EXPECT_THAT(r.out, HasSubstr("hop       allow"));
  // Allowed, the upstream answers: no status of the gateway's own.
  r = Warden("explain --manifests " + kReference +
             " --from team-y/app --request 'GET http://httpbin.org/status/418'");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::StartsWith(
                         "ALLOW (to upstream)  team-y/app -> GET http://httpbin.org/status/418"));
  EXPECT_THAT(r.out, HasSubstr("allowed by ALLOW policy warden-egress/team-y-httpbin-418"));
}

// Row 17: an operator adds an AuthorizationPolicy; the same request's answer changes.
TEST(ExplainRequestCli, AnAddedPolicyChangesTheAnswer) {
  const fs::path dir = fs::temp_directory_path() / ("warden-req-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::copy(kReference, dir, fs::copy_options::recursive);
  EXPECT_EQ(Ask(dir.string(), "team-x/app", "GET http://httpbin.org/get")["verdict"], "deny");
  std::ofstream(dir / "50-team-x-httpbin-get.yaml") << R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: team-x-httpbin-get, namespace: warden-egress}
spec:
  selector: {matchLabels: {app: warden-gateway}}
  rules:
  - from: [{source: {namespaces: [team-x]}}]
    to: [{operation: {hosts: [httpbin.org], paths: [/get], methods: [GET]}}]
)";
  nlohmann::json j = Ask(dir.string(), "team-x/app", "GET http://httpbin.org/get");
  EXPECT_EQ(j["verdict"], "allow") << j.dump(1);
  EXPECT_EQ(j["policy"], "warden-egress/team-x-httpbin-get");
  EXPECT_EQ(Ask(dir.string(), "team-x/app", "POST http://httpbin.org/get")["verdict"], "deny");
  // A policy whose selector names labels the gateway pod does not carry does not apply to it.
  std::ofstream(dir / "51-deny-elsewhere.yaml") << R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all-other-gateway, namespace: warden-egress}
spec:
  selector: {matchLabels: {istio: egressgateway}}
  action: DENY
  rules: [{}]
)";
  EXPECT_EQ(Ask(dir.string(), "team-x/app", "GET http://httpbin.org/get")["verdict"], "allow");
  fs::remove_all(dir);
}

TEST(ExplainRequestCli, RequestsFile) {
  const fs::path file =
      fs::temp_directory_path() / ("warden-requests-" + std::to_string(getpid()) + ".jsonl");
  std::ofstream(file)
      << R"({"from": "team-y/app", "method": "GET", "url": "http://httpbin.org/status/418"})"
      << "\n"
      << R"({"namespace": "team-y", "service_account": "default", "method": "GET", "url": "http://httpbin.org/status/418?x=1"})"
      << "\n"
      << R"({"method": "GET", "url": "http://httpbin.org/status/418"})"
      << "\n"
      << R"({"from": "team-y/app", "method": "GET", "url": "http://httpbin.org/x/../status/418"})"
      << "\n"
      << R"({"from": "team-y/app", "method": "GET", "url": "http://httpbin.org/a%00b"})"
      << "\n"
      << R"({"from": "team-y/app", "method": "GET", "url": "http://httpbin.org/status/418", "port": 8080})"
      << "\n\n"
      << R"({"from": "team-x/app", "url": "http://example.com/", "headers": {"Host": "EXAMPLE.com"}})"
      << "\n"
      << R"({"from": "team-x/app", "url": "https://example.com/"})"
      << "\n"
      << R"({"from": "team-x/app", "url": "http://example.com/", "bogus": 1})"
      << "\n"
      << R"(not json)"
      << "\n";
  auto r = Warden("explain --manifests " + kReference + " --requests " + file.string() +
                  " --output json");
  fs::remove(file);
  EXPECT_EQ(r.code, 2) << r.err;  // two bad lines
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.contains("results")) << r.out;
  const auto& res = j["results"];
  ASSERT_EQ(res.size(), 10u) << res.dump(1);
  auto at = [&](size_t i) { return res[i]; };
  EXPECT_EQ(at(0)["line"], 1);
  EXPECT_EQ(at(0)["verdict"], "allow");
  EXPECT_EQ(at(1)["verdict"], "allow");  // an identity without a pod; the query is not matched
  EXPECT_EQ(at(2)["verdict"], "deny");   // no attested identity
  EXPECT_EQ(at(3)["verdict"], "allow");  // normalized before matching
  EXPECT_EQ(at(4)["verdict"], "bad_request");
  EXPECT_EQ(at(4)["status"], 400);
  EXPECT_EQ(at(5)["verdict"], "unregistered");  // nothing registers port 8080
  EXPECT_EQ(at(6)["line"], 8);                  // the blank line 7 is skipped
  EXPECT_EQ(at(6)["verdict"], "allow");
  // TLS passed through on 443: registered by SNI, but `hosts` is an HTTP field, and an ALLOW
  // rule using one never matches a connection that is not HTTP (Istio's TCP filter chain): a
  // passthrough is authorized with `when: connection.sni`.
  EXPECT_EQ(at(7)["verdict"], "deny");
  EXPECT_EQ(at(7)["registered_by"], "warden-egress/example-com");
  EXPECT_THAT(at(8)["error"].get<std::string>(), HasSubstr("unknown field \"bogus\""));
  EXPECT_TRUE(at(9).contains("error"));
  EXPECT_THAT(r.err, HasSubstr(":10:"));
}

TEST(ExplainRequestCli, BadFlags) {
  EXPECT_EQ(
      Warden("explain --manifests " + kReference + " --request 'GET http://example.com/'").code,
      2);  // no --from
  EXPECT_EQ(Warden("explain --manifests " + kReference +
                   " --from team-x/app --request 'http://example.com/'")
                .code,
            2);
  EXPECT_EQ(Warden("explain --manifests " + kReference +
                   " --from team-x/app --request 'GET ftp://example.com/'")
                .code,
            2);
  EXPECT_EQ(Warden("explain --manifests " + kReference +
                   " --from nobody/here --request 'GET http://example.com/'")
                .code,
            2);
}

}  // namespace
