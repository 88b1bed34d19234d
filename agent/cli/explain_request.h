// `warden explain --request` / `--requests FILE`: what the egress gateway would answer to an HTTP
// request (or a TLS connection) from a pod, with the compiled form the gateway uses, and whether
// the pod's NetworkPolicy lets it reach the gateway at all.
#pragma once

#include <string>
#include <vector>

#include "agent/egress/gateway_config.h"
#include "agent/policy/explain.h"

namespace warden::cli {

struct RequestExplainFlags {
  std::string request;               // "METHOD URL"
  std::vector<std::string> headers;  // "Name: value"
  std::string requests_file;         // one JSON object a line
  std::string from;                  // NS/POD for --request
  std::string output = "text";
  std::string gateway_port = "mtls";  // the gateway pod's port the node's forwarder reaches
  egress::GatewayOptions gateway;
};

// Prints the answer(s) and returns the exit code: `exit_code` (2 when the manifests had errors),
// or 2 for bad input (a message names the flag or the line).
int ExplainRequests(const policy::ClusterState& state, const RequestExplainFlags& f, int exit_code);

}  // namespace warden::cli
