// The gateway's TLS: the listener that admits only node forwarders (mutual TLS, certificates of
// the control plane's CA), and the client contexts it originates upstream TLS with.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "absl/status/statusor.h"

namespace warden::gateway {

// What forwarders ask for in ALPN: the flow protocol (a flow header, then the flow's bytes).
// The listener's context: `cert`/`key` (this gateway node's certificate: forwarders check it
// names the node), clients verified against `ca` and refused without a certificate, TLS 1.2 at
// least, session tickets on (a forwarder's next connection resumes without a full handshake; the
// session keeps the client's certificate), ALPN nodestate::kFlowAlpn when the client offers ALPN.
absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ListenerContext(const std::string& cert,
                                                                           const std::string& key,
                                                                           const std::string& ca);

// The DNS names among the subject alternative names of the peer's certificate.
std::vector<std::string> PeerDnsNames(SSL* ssl);

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
