// Tests of Istio's egress objects on the wire (agent/nodestate/egress_wire.h): every object the
// manifest reader accepts comes back equal, and a message no valid manifest could have produced
// is refused with its field named.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "agent/nodestate/egress_wire.h"
#include "agent/policy/manifest_loader.h"

namespace warden::nodestate {
namespace {

using ::testing::HasSubstr;

const std::string kReference = std::string(WARDEN_SOURCE_DIR) + "/deploy/examples/reference";

template <typename T>
T WithoutSource(T x) {
  x.source = {};
  return x;
}

const char kMore[] = R"(
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db, namespace: team-x}
spec:
  hosts: [db.example]
  addresses: [192.0.2.0/24]
  ports: [{number: 5432, name: pg, protocol: TCP, targetPort: 6432}, {number: 80, name: web}]
  resolution: STATIC
  location: MESH_INTERNAL
  endpoints: [{address: 192.0.2.7, ports: {web: 8080, pg: 5433}, labels: {zone: a}}]
  exportTo: [".", team-y]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: db, namespace: team-x}
spec:
  host: "*.example"
  workloadSelector: {matchLabels: {app: x}}
  trafficPolicy:
    tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem, subjectAltNames: [a, b], insecureSkipVerify: false}
    portLevelSettings:
    - port: {number: 80}
      loadBalancer: {simple: ROUND_ROBIN}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: everything, namespace: istio-system, annotations: {istio.io/dry-run: "true"}}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: g}]
  action: DENY
  rules:
  - from:
    - source: {principals: [a], notPrincipals: [b], namespaces: [c], notNamespaces: [d], ipBlocks: [10.0.0.0/8], notIpBlocks: [10.1.0.0/16], remoteIpBlocks: [1.2.3.4], notRemoteIpBlocks: ["::1"]}
    - source: {serviceAccounts: [x/y], notServiceAccounts: [z]}
    to:
    - operation: {hosts: [h], notHosts: [i], ports: ["80"], notPorts: ["81"], methods: [GET], notMethods: [PUT], paths: ["/a/{*}"], notPaths: [/b]}
    when:
    - {key: "request.headers[x-a]", values: [v], notValues: [w]}
    - {key: connection.sni, values: ["*.example"]}
  - {}
)";

TEST(EgressWireTest, EveryObjectComesBackEqual) {
  policy::LoadResult r = policy::LoadManifestDir(kReference);
  ASSERT_TRUE(r.errors.empty());
  policy::LoadResult more = policy::LoadManifestTexts({{"more.yaml", kMore}});
  ASSERT_TRUE(more.errors.empty()) << more.errors[0].ToString();
  int n = 0;
  for (const auto* state : {&r.state, &more.state}) {
    for (const auto& [k, se] : state->service_entries.get()) {
      v1::IstioServiceEntry w;
      ToWire(se, &w);
      v1::IstioServiceEntry parsed;
      ASSERT_TRUE(parsed.ParseFromString(w.SerializeAsString()));
      auto back = FromWire(parsed, "se");
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(*back == WithoutSource(se)) << k;
      ++n;
    }
    for (const auto& [k, dr] : state->destination_rules.get()) {
      v1::IstioDestinationRule w;
      ToWire(dr, &w);
      auto back = FromWire(w, "dr");
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(*back == WithoutSource(dr)) << k;
      ++n;
    }
    for (const auto& [k, ap] : state->authorization_policies.get()) {
      v1::IstioAuthorizationPolicy w;
      ToWire(ap, &w);
      auto back = FromWire(w, "ap");
      ASSERT_TRUE(back.ok()) << back.status();
      EXPECT_TRUE(*back == WithoutSource(ap)) << k;
      ++n;
    }
  }
  EXPECT_EQ(n, 11);
}

TEST(EgressWireTest, WhatNoManifestCouldHoldIsRefused) {
  auto se_error = [](auto edit) {
    v1::IstioServiceEntry w;
    w.set_namespace_("a");
    w.set_name("b");
    w.add_hosts("a.example");
    edit(&w);
    auto r = FromWire(w, "gateway.service_entries[3]");
    return r.ok() ? std::string() : std::string(r.status().message());
  };
  EXPECT_EQ(se_error([](v1::IstioServiceEntry*) {}), "");
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) { w->set_hosts(0, "*"); }),
              HasSubstr("gateway.service_entries[3].hosts[0]"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) { w->set_hosts(0, "a.*.example"); }),
              HasSubstr("hosts[0]"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) { w->add_ports()->set_number(70000); }),
              HasSubstr("ports[0].number"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) {
                auto* p = w->add_ports();
                p->set_number(80);
                p->set_protocol("QUIC");
              }),
              HasSubstr("ports[0].protocol"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) { w->add_addresses("300.0.0.1"); }),
              HasSubstr("addresses[0]"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) {
                w->set_resolution(static_cast<v1::IstioServiceEntry::Resolution>(9));
              }),
              HasSubstr("resolution"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) { w->clear_hosts(); }), HasSubstr("hosts"));
  EXPECT_THAT(se_error([](v1::IstioServiceEntry* w) { w->clear_namespace_(); }),
              HasSubstr("namespace"));

  auto ap_error = [](auto edit) {
    v1::IstioAuthorizationPolicy w;
    w.set_namespace_("a");
    w.set_name("b");
    edit(w.add_rules());
    auto r = FromWire(w, "ap");
    return r.ok() ? std::string() : std::string(r.status().message());
  };
  EXPECT_EQ(ap_error([](v1::IstioAuthzRule*) {}), "");
  EXPECT_THAT(ap_error([](v1::IstioAuthzRule* r) { r->add_from(); }), HasSubstr("from[0]"));
  EXPECT_THAT(ap_error([](v1::IstioAuthzRule* r) { r->add_from()->add_ip_blocks("10.0.0.0/40"); }),
              HasSubstr("from[0].ip_blocks[0]"));
  EXPECT_THAT(ap_error([](v1::IstioAuthzRule* r) { r->add_to()->add_ports("80-81"); }),
              HasSubstr("to[0].ports[0]"));
  EXPECT_THAT(ap_error([](v1::IstioAuthzRule* r) { r->add_to()->add_methods(""); }),
              HasSubstr("to[0].methods[0]"));
  EXPECT_THAT(ap_error([](v1::IstioAuthzRule* r) {
                auto* c = r->add_when();
                c->set_key("request.auth.claims[iss]");
                c->add_values("x");
              }),
              HasSubstr("when[0].key"));
  EXPECT_THAT(ap_error([](v1::IstioAuthzRule* r) { r->add_when()->set_key("source.ip"); }),
              HasSubstr("neither values nor not_values"));
  v1::IstioAuthorizationPolicy custom;
  custom.set_namespace_("a");
  custom.set_name("b");
  custom.set_action(static_cast<v1::IstioAuthorizationPolicy::Action>(3));  // CUSTOM's number
  EXPECT_FALSE(FromWire(custom, "ap").ok());

  v1::IstioDestinationRule dr;
  dr.set_namespace_("a");
  dr.set_name("b");
  dr.set_host("a.example");
  dr.mutable_tls()->set_mode(v1::IstioClientTls::MUTUAL);
  auto st = FromWire(dr, "dr");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.status().message()), HasSubstr("dr.tls"));
}

}  // namespace
}  // namespace warden::nodestate
