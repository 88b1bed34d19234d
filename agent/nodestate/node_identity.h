// Which nodes a verified client certificate speaks for: the control plane lets a client
// subscribe only to those nodes' states, and a gateway takes a forwarder's flows only for pods of
// those nodes. Two kinds of certificate name a node:
//   - Warden's own (scripts/gen-certs, cert-manager): a DNS subject alternative name that is the
//     node's name;
//   - the kubelet's client certificate (/var/lib/kubelet/pki/kubelet-client-current.pem), which
//     the cluster's CA issues to each node and rotates: subject O=system:nodes and
//     CN=system:node:NAME, the identity Kubernetes' own node authorizer and NodeRestriction
//     trust. Mounted by the agent's DaemonSet, it gives each node its own credential with no CA
//     key on any node.
#pragma once

#include <openssl/x509.h>

#include <string>
#include <string_view>
#include <vector>

namespace warden::nodestate {

// The node names `cert` speaks for (no verification here: the TLS handshake did it).
std::vector<std::string> NodeNamesOf(X509* cert);
// The same for a PEM certificate (gRPC hands the peer's over as text); none if it does not parse.
std::vector<std::string> NodeNamesOfPem(std::string_view pem);

}  // namespace warden::nodestate
