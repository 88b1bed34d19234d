// The manifests the gateway tests run on: three nodes in two pools, team-x/app (service account
// app-x) on default-1, team-y/app on default-2, the gateway pod on gateway-1; example.com,
// httpbin.org and wrong.test registered at nginx ({{NGINX}}: its port) with TLS originated on 80
// and passed through on 443; the reference scenario's AuthorizationPolicies.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

namespace warden::gateway_test {

inline const char kCluster[] = R"(
apiVersion: v1
kind: Node
metadata: {name: default-1, labels: {cloud.google.com/gke-nodepool: default-pool}}
---
apiVersion: v1
kind: Node
metadata: {name: default-2, labels: {cloud.google.com/gke-nodepool: default-pool}}
---
apiVersion: v1
kind: Node
metadata: {name: gateway-1, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: team-x, labels: {app: app}}
spec: {nodeName: default-1, serviceAccountName: app-x, containers: [{name: c}]}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: team-y, labels: {app: app}}
spec: {nodeName: default-2, containers: [{name: c}]}
status: {podIP: 10.244.2.10}
---
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: warden-egress, labels: {app: warden-gateway}}
spec: {nodeName: gateway-1, containers: [{name: c, ports: [{name: mtls, containerPort: 15443}]}]}
status: {podIP: 10.244.3.10}
)";

// Registered hosts: all at nginx (STATIC endpoint on loopback), port 80 with TLS originated,
// 443 passed through.
inline std::string Registered(const std::string& name, const std::string& host) {
  return absl::StrCat(R"(
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: )",
                      name, R"(, namespace: warden-egress}
spec:
  hosts: [)",
                      host, R"(]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports:
  - {number: 80, name: http, protocol: HTTP, targetPort: {{NGINX}}}
  - {number: 443, name: tls, protocol: TLS, targetPort: {{NGINX}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: )",
                      name, R"(, namespace: warden-egress}
spec:
  host: )",
                      host, R"(
  trafficPolicy:
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE}
)");
}

inline const char kPolicies[] = R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: team-x-example-com, namespace: warden-egress}
spec:
  selector: {matchLabels: {app: warden-gateway}}
  action: ALLOW
  rules:
  - from: [{source: {namespaces: [team-x]}}]
    to: [{operation: {hosts: [example.com, wrong.test]}}]
  - from: [{source: {namespaces: [team-x]}}]
    when: [{key: connection.sni, values: [example.com]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: team-y-httpbin-418, namespace: warden-egress}
spec:
  selector: {matchLabels: {app: warden-gateway}}
  action: ALLOW
  rules:
  - from: [{source: {namespaces: [team-y]}}]
    to: [{operation: {hosts: [httpbin.org], paths: [/status/418]}}]
)";

inline const char kTeamXGet[] = R"(
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: team-x-httpbin-get, namespace: warden-egress}
spec:
  selector: {matchLabels: {app: warden-gateway}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/team-x/sa/app-x]}}]
    to: [{operation: {hosts: [httpbin.org], paths: [/get], methods: [GET]}}]
)";

inline std::string Manifests(bool with_get = false) {
  return absl::StrCat(kCluster, Registered("example-com", "example.com"),
                      Registered("httpbin-org", "httpbin.org"), Registered("wrong", "wrong.test"),
                      kPolicies, with_get ? kTeamXGet : "");
}

// An HTTP/1.1 GET as a pod sends it.
inline std::string Get(const std::string& host, const std::string& path,
                       const std::string& extra = "") {
  return absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\nUser-Agent: test\r\n", extra,
                      "\r\n");
}

}  // namespace warden::gateway_test
