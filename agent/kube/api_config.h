// Where the Kubernetes API server is and how to prove who we are to it: from inside a pod (the
// service account's token and CA, the KUBERNETES_SERVICE_* environment) or from a kubeconfig
// file. Only what can be verified is accepted: the server's certificate must chain to a CA we
// were given (no insecure-skip-tls-verify), and credentials come from files or the kubeconfig
// (no exec or auth-provider plugins).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace warden::kube {

struct ApiServerConfig {
  std::string host;  // a DNS name or an IP literal (without brackets)
  std::string port = "443";
  std::string path_prefix;      // of the server URL, e.g. "/k8s/clusters/c-1" (rarely set)
  std::string ca_pem;           // the CA the server's certificate must chain to
  std::string tls_server_name;  // the name checked in the server's certificate (default: host)
  std::string token;            // a bearer token, or
  std::string token_file;       // a file holding one, read again for every request (bound
                                // service account tokens are rotated by the kubelet)
  std::string client_cert_pem, client_key_pem;  // client certificate authentication
  std::string origin;  // where this came from, for messages ("kubeconfig F, context C")
};

// The in-cluster configuration. `secrets_dir` holds `token` and `ca.crt` (normally
// /var/run/secrets/kubernetes.io/serviceaccount); host and port come from the environment.
absl::StatusOr<ApiServerConfig> InClusterConfig(
    const std::string& secrets_dir = "/var/run/secrets/kubernetes.io/serviceaccount");

// The configuration of `context` (the current context when empty) of the kubeconfig at `path`.
// Relative file names in it are relative to the kubeconfig's folder, as kubectl reads them.
absl::StatusOr<ApiServerConfig> KubeconfigConfig(const std::string& path,
                                                 const std::string& context = "");

// "https://HOST[:PORT][/PREFIX]" into `cfg` (host, port, path_prefix).
absl::Status ParseServerUrl(const std::string& url, ApiServerConfig* cfg);

}  // namespace warden::kube
