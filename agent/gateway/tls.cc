#include "agent/gateway/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/common/log.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/flow_header.h"
#include "agent/nodestate/node_identity.h"

namespace warden::gateway {
namespace ssl = boost::asio::ssl;

namespace {

// A session id context is required for a server that verifies clients to resume sessions.
constexpr unsigned char kSessionContext[] = "warden-gateway";

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
               unsigned int inlen, void*) {
  const size_t want = std::strlen(nodestate::kFlowAlpn);
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (len == want && std::memcmp(in + i + 1, nodestate::kFlowAlpn, want) == 0) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;  // it offered protocols, none of them ours
}

}  // namespace

absl::StatusOr<std::shared_ptr<ssl::context>> ListenerContext(
    const std::string& cert, const std::string& key, const std::string& ca,
    const std::vector<std::string>& more_cas) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                   ssl::context::single_dh_use);
  if (ctx->use_certificate_chain_file(cert, ec); ec)
    return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", cert, ": ", ec.message()));
  if (ctx->use_private_key_file(key, ssl::context::pem, ec); ec)
    return absl::InvalidArgumentError(absl::StrCat("--tls-key ", key, ": ", ec.message()));
  if (ctx->load_verify_file(ca, ec); ec)
    return absl::InvalidArgumentError(absl::StrCat("--tls-ca ", ca, ": ", ec.message()));
  for (const std::string& more : more_cas) {
    if (ctx->load_verify_file(more, ec); ec)
      return absl::InvalidArgumentError(absl::StrCat("--client-ca ", more, ": ", ec.message()));
  }
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_alpn_select_cb(native, SelectAlpn, nullptr);
  // An idle connection gives its record buffers back (34 KB of OpenSSL's): thousands of pods'
  // keep-alive connections sit idle most of the time.
  SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  return ctx;
}

namespace {
std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

ListenerTls::ListenerTls(std::string cert, std::string key, std::string ca,
                         std::chrono::milliseconds check_every, std::vector<std::string> more_cas)
    : cert_(std::move(cert)),
      key_(std::move(key)),
      ca_(std::move(ca)),
      more_cas_(std::move(more_cas)),
      files_(Concat({cert_, key_, ca_}, more_cas_), check_every) {}

absl::StatusOr<std::unique_ptr<ListenerTls>> ListenerTls::Create(
    std::string cert, std::string key, std::string ca, std::chrono::milliseconds check_every,
    std::vector<std::string> more_cas) {
  std::unique_ptr<ListenerTls> t(new ListenerTls(std::move(cert), std::move(key), std::move(ca),
                                                 check_every, std::move(more_cas)));
  WD_ASSIGN_OR_RETURN(t->ctx_, ListenerContext(t->cert_, t->key_, t->ca_, t->more_cas_));
  return t;
}

std::shared_ptr<ssl::context> ListenerTls::Current() {
  if (files_.Changed()) {
    absl::StatusOr<std::shared_ptr<ssl::context>> next =
        ListenerContext(cert_, key_, ca_, more_cas_);
    common::Logger log("warden gateway");
    if (next.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      ctx_ = *std::move(next);
      ++reloads_;
      log.Info("the TLS files changed (", cert_, "): new handshakes use them");
    } else {
      log.Error("the TLS files changed but do not load, new handshakes keep the ones in use: ",
                next.status().message());
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  return ctx_;
}

std::vector<std::string> PeerNodeNames(SSL* ssl) {
  return nodestate::NodeNamesOf(SSL_get0_peer_certificate(ssl));
}

absl::StatusOr<std::shared_ptr<ssl::context>> UpstreamContexts::Get(const UpstreamTlsFiles& f) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = contexts_.find(f);
  if (it != contexts_.end()) return it->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  const std::string& ca = f.ca.empty() ? default_ca_ : f.ca;
  if (ca.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(ca, ec);
  }
  if (ec) return absl::FailedPreconditionError(absl::StrCat("CA bundle ", ca, ": ", ec.message()));
  if (!f.cert.empty()) {
    if (ctx->use_certificate_chain_file(f.cert, ec); ec)
      return absl::FailedPreconditionError(
          absl::StrCat("clientCertificate ", f.cert, ": ", ec.message()));
    if (ctx->use_private_key_file(f.key, ssl::context::pem, ec); ec)
      return absl::FailedPreconditionError(absl::StrCat("privateKey ", f.key, ": ", ec.message()));
  }
  ctx->set_verify_mode(f.verify ? ssl::verify_peer : ssl::verify_none);
  SSL_CTX_set_mode(ctx->native_handle(), SSL_MODE_RELEASE_BUFFERS);  // pooled, idle connections
  contexts_.emplace(f, ctx);
  return ctx;
}

}  // namespace warden::gateway
