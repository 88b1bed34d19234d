// The gateway's TLS: the listener that admits only node forwarders (mutual TLS, certificates of
// the control plane's CA), and the client contexts it originates upstream TLS with.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "absl/status/statusor.h"
#include "agent/common/watched_files.h"

namespace warden::gateway {

// What forwarders ask for in ALPN: the flow protocol (a flow header, then the flow's bytes).
// The listener's context: `cert`/`key` (this gateway node's certificate: forwarders check it
// names the node), clients verified against `ca` and `more_cas` (the cluster's CA, whose kubelet
// certificates name their nodes) and refused without a certificate, TLS 1.2 at least, session
// tickets on (a forwarder's next connection resumes without a full handshake; the session keeps
// the client's certificate), ALPN nodestate::kFlowAlpn when the client offers ALPN.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ListenerContext(
    const std::string& cert, const std::string& key, const std::string& ca,
    const std::vector<std::string>& more_cas = {});

// The listener's context, made again (ListenerContext) when its files change (WatchedFiles; in
// Kubernetes a Secret's files are replaced in place): new handshakes take the newest context
// that loaded, connections under way keep the one they began with (an SSL holds a reference to
// its SSL_CTX). Files that do not load leave the previous context in use (logged, naming the
// file): TLS never stops for a bad file.
class ListenerTls {
 public:
  static absl::StatusOr<std::unique_ptr<ListenerTls>> Create(
      std::string cert, std::string key, std::string ca, std::chrono::milliseconds check_every,
      std::vector<std::string> more_cas = {});
  // The context for a new handshake; the files are looked at, at most once per `check_every`.
  std::shared_ptr<boost::asio::ssl::context> Current();
  uint64_t reloads() const { return reloads_; }

 private:
  ListenerTls(std::string cert, std::string key, std::string ca,
              std::chrono::milliseconds check_every, std::vector<std::string> more_cas);

  const std::string cert_, key_, ca_;
  const std::vector<std::string> more_cas_;
  common::WatchedFiles files_;
  std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::atomic<uint64_t> reloads_{0};
};

// The nodes the peer's certificate speaks for (nodestate/node_identity.h: DNS SANs, or the
// kubelet's own certificate of a node).
std::vector<std::string> PeerNodeNames(SSL* ssl);

// How the gateway verifies an upstream server and presents itself to it: the parts of a
// DestinationRule's ClientTLSSettings that make an SSL_CTX (the names are set per connection).
struct UpstreamTlsFiles {
  std::string ca;         // "" = the gateway's default CA bundle
  std::string cert, key;  // MUTUAL: the client certificate
  bool verify = true;     // false: insecureSkipVerify
  bool operator<(const UpstreamTlsFiles& o) const {
    return std::tie(ca, cert, key, verify) < std::tie(o.ca, o.cert, o.key, o.verify);
  }
};

// The client contexts, built once per distinct files and shared by every worker.
class UpstreamContexts {
 public:
  // `default_ca`: the bundle used when a rule names none ("" = the system's store).
  explicit UpstreamContexts(std::string default_ca) : default_ca_(std::move(default_ca)) {}
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> Get(const UpstreamTlsFiles& f);

 private:
  std::string default_ca_;
  std::mutex mu_;
  std::map<UpstreamTlsFiles, std::shared_ptr<boost::asio::ssl::context>> contexts_;
};

}  // namespace warden::gateway
