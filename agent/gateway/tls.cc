#include "agent/gateway/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/nodestate/flow_header.h"

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

absl::StatusOr<std::shared_ptr<ssl::context>> ListenerContext(const std::string& cert,
                                                              const std::string& key,
                                                              const std::string& ca) {
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

std::vector<std::string> PeerDnsNames(SSL* ssl) {
  std::vector<std::string> out;
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (!peer) return out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(peer, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = n->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     ASN1_STRING_length(s));
  }
  GENERAL_NAMES_free(names);
  return out;
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
