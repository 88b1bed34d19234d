// The forwarder's side of the mutual-TLS connection to a gateway: TLS 1.3 only, the node's
// certificate and key, the control plane's CA, ALPN "warden-flow/1", and the gateway's
// certificate checked to name the gateway pod's node as a DNS subjectAltName (a gateway presents
// its node's certificate). Sessions are resumed: each gateway's tickets are kept (a few, each
// used once), so that a new pod connection costs a resumed handshake, not a full one.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "agent/common/watched_files.h"
#include "agent/nodestate/flow_header.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_session_st SSL_SESSION;

namespace warden::forwarder {

using nodestate::kFlowAlpn;

struct TlsFiles {
  std::string cert, key, ca;  // PEM files: the node's certificate and key, the CA
  // How often the files are looked at for a change (Kubernetes replaces a Secret's files in
  // place): new connections use new files that load; the kept sessions (which carry the old
  // certificate) are dropped. Files that do not load leave the ones in use (logged).
  std::chrono::milliseconds check_every = std::chrono::seconds(30);
};

class TlsClient {
 public:
  static absl::StatusOr<std::unique_ptr<TlsClient>> Create(const TlsFiles& files);
  ~TlsClient();
  TlsClient(const TlsClient&) = delete;
  TlsClient& operator=(const TlsClient&) = delete;

  // A client connection's SSL (owned by the caller: SSL_free) for the gateway keyed `gateway`
  // ("addr:port"), whose certificate must name `node`; with a session of that gateway to resume
  // when one is kept.
  absl::StatusOr<SSL*> NewSsl(const std::string& gateway, const std::string& node);
  // After the handshake: whether ALPN chose warden-flow/1.
  static bool AlpnAgreed(SSL* ssl);
  // The reason for the last OpenSSL failure on this thread (empties its error queue).
  static std::string LastError();
  // Sessions kept for `gateway` (tests).
  size_t KeptSessions(const std::string& gateway);

  // Times new files were taken (tests, metrics).
  uint64_t reloads() const { return reloads_; }

  static constexpr size_t kSessionsPerGateway = 8;

 private:
  explicit TlsClient(const TlsFiles& files);
  static absl::StatusOr<SSL_CTX*> MakeContext(const TlsFiles& f);
  static int OnNewSession(SSL* ssl, SSL_SESSION* session);
  // Takes the files again if they changed and load; under mu_.
  void ReloadIfChanged();
  void DropSessions();  // under mu_

  const TlsFiles files_;
  common::WatchedFiles watched_;
  std::mutex mu_;
  SSL_CTX* ctx_ = nullptr;   // new connections' (each SSL holds a reference of its own)
  uint64_t generation_ = 0;  // of ctx_: sessions of an older one are not kept
  std::atomic<uint64_t> reloads_{0};
  std::map<std::string, std::deque<SSL_SESSION*>> sessions_;
};

}  // namespace warden::forwarder
