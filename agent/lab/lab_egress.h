// The lab's egress half: HTTPS hosts on the "internet" (nginx with certificates of the lab CA),
// the names they go by (as the cluster's DNS would answer the gateway), and `warden gateway` in
// the gateway pod of a gateway-pool node, fed by the control plane.
#pragma once

#include <ios>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/lab/lab.h"
#include "agent/lab/lab_pki.h"
#include "agent/lab/lab_state.h"

namespace warden::lab {

// The internet's names and addresses, as the gateway resolves them (IPv4: its NetworkPolicy lets
// it out on IPv4 only).
inline const std::vector<std::pair<std::string, std::string>> kWorldNames = {
    {"example.com", "203.0.113.10"},
    {"www.example.com", "203.0.113.10"},
    {"httpbin.org", "203.0.113.20"},
    {"exfil.test", "203.0.113.66"},
    {"private.googleapis.com", "199.36.153.8"}};

// The HTTPS hosts nginx serves, each with a certificate of the lab CA naming it.
std::vector<LabCert> InternetCerts();

// nginx in the internet's namespace, serving HTTPS on the addresses of example.com and
// httpbin.org (httpbin's /status/418 and /get among its paths); its access log names the
// connection of each request (to see the gateway's upstream reuse from the server's side).
absl::StatusOr<pid_t> StartInternetHttps(const LabState& lab, const std::string& state_dir,
                                         const std::string& pki);

// The gateway pods: the pods of `gateway_namespace` on gateway-pool nodes, in the manifests'
// order (each runs a replica of `warden gateway`).
std::vector<const LabPod*> FindGatewayPods(const LabState& lab,
                                           const std::string& gateway_namespace = "warden-egress");

// `warden gateway` for `pod`: in its network namespace and cgroup (the gateway-pool node's agent
// sees it as a gateway pod), with its node's certificate, the control plane's address, and an
// /etc/hosts of its own holding kWorldNames. Its logs are named after the pod:
// logs/NAME.log and logs/NAME-access.jsonl.
LabGateway PlanGateway(const std::string& self, const LabPod& pod, const std::string& pki,
                       const std::string& state_dir);
absl::StatusOr<pid_t> StartGateway(const LabState& lab, const LabGateway& g,
                                   const std::string& state_dir);
// Waits (20 s at most) until `g` has a state from the control plane in force (in its log after
// the first `log_from` bytes).
absl::Status WaitForGateway(const LabGateway& g, const std::string& state_dir,
                            std::streamoff log_from = 0);
// The process log of `g`.
std::string GatewayLog(const LabGateway& g, const std::string& state_dir);

}  // namespace warden::lab
