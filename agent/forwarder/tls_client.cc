#include "agent/forwarder/tls_client.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "absl/strings/str_cat.h"
#include "agent/common/log.h"
#include "agent/common/openssl_errors.h"
#include "agent/common/status_macros.h"

namespace warden::forwarder {

namespace {

// The ALPN protocol list on the wire: a length byte, then the name.
std::string AlpnWire() {
  std::string w(1, static_cast<char>(sizeof(kFlowAlpn) - 1));
  return w + kFlowAlpn;
}

// Where a connection's SSL keeps its TlsClient, gateway key and context generation (for the
// new-session callback).
struct SslNote {
  TlsClient* client;
  std::string gateway;
  uint64_t generation;
};

int NoteIndex() {
  static int index = SSL_get_ex_new_index(
      0, nullptr, nullptr, nullptr,
      [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<SslNote*>(p); });
  return index;
}

}  // namespace

std::string TlsClient::LastError() {
  std::string out = common::OpenSslErrors();
  return out.empty() ? "unknown TLS error" : out;
}

TlsClient::TlsClient(const TlsFiles& files)
    : files_(files), watched_({files.cert, files.key, files.ca}, files.check_every) {}

absl::StatusOr<SSL_CTX*> TlsClient::MakeContext(const TlsFiles& f) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return absl::InternalError("SSL_CTX_new: " + LastError());
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> owned(ctx, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_use_certificate_chain_file(ctx, f.cert.c_str()) != 1)
    return absl::InvalidArgumentError(absl::StrCat("--tls-cert ", f.cert, ": ", LastError()));
  if (SSL_CTX_use_PrivateKey_file(ctx, f.key.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(ctx) != 1)
    return absl::InvalidArgumentError(absl::StrCat("--tls-key ", f.key, ": ", LastError()));
  if (SSL_CTX_load_verify_locations(ctx, f.ca.c_str(), nullptr) != 1)
    return absl::InvalidArgumentError(absl::StrCat("--tls-ca ", f.ca, ": ", LastError()));
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  const std::string alpn = AlpnWire();
  if (SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(alpn.data()),
                              alpn.size()) != 0)
    return absl::InternalError("setting ALPN: " + LastError());
  // Client-side sessions, kept by us per gateway (not OpenSSL's internal store, which is keyed
  // by nothing we choose).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &TlsClient::OnNewSession);
  return owned.release();
}

absl::StatusOr<std::unique_ptr<TlsClient>> TlsClient::Create(const TlsFiles& f) {
  if (f.cert.empty() || f.key.empty() || f.ca.empty()) {
    return absl::InvalidArgumentError(
        "the forwarder needs the node's certificate, key and the CA (--tls-cert, --tls-key, "
        "--tls-ca)");
  }
  std::unique_ptr<TlsClient> c(new TlsClient(f));
  WD_ASSIGN_OR_RETURN(c->ctx_, MakeContext(f));
  NoteIndex();
  return c;
}

TlsClient::~TlsClient() {
  DropSessions();
  SSL_CTX_free(ctx_);
}

void TlsClient::DropSessions() {
  for (auto& [_, q] : sessions_)
    for (SSL_SESSION* s : q) SSL_SESSION_free(s);
  sessions_.clear();
}

void TlsClient::ReloadIfChanged() {
  if (!watched_.Changed()) return;
  common::Logger log("warden forwarder");
  absl::StatusOr<SSL_CTX*> next = MakeContext(files_);
  if (!next.ok()) {
    log.Error("the TLS files changed but do not load, new connections keep the ones in use: ",
              next.status().message());
    return;
  }
  SSL_CTX_free(ctx_);  // connections under way hold their own reference
  ctx_ = *next;
  ++generation_;
  ++reloads_;
  // A resumed session would present the old certificate again.
  DropSessions();
  log.Info("the TLS files changed (", files_.cert, "): new connections use them");
}

int TlsClient::OnNewSession(SSL* ssl, SSL_SESSION* session) {
  auto* note = static_cast<SslNote*>(SSL_get_ex_data(ssl, NoteIndex()));
  if (!note || !SSL_SESSION_is_resumable(session)) return 0;
  std::lock_guard<std::mutex> l(note->client->mu_);
  if (note->generation != note->client->generation_) return 0;  // made with the old files
  std::deque<SSL_SESSION*>& q = note->client->sessions_[note->gateway];
  q.push_back(session);  // ours now (returning 1)
  while (q.size() > kSessionsPerGateway) {
    SSL_SESSION_free(q.front());
    q.pop_front();
  }
  return 1;
}

absl::StatusOr<SSL*> TlsClient::NewSsl(const std::string& gateway, const std::string& node) {
  SSL* ssl = nullptr;
  uint64_t generation = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    ReloadIfChanged();
    ssl = SSL_new(ctx_);
    generation = generation_;
  }
  if (!ssl) return absl::InternalError("SSL_new: " + LastError());
  SSL_set_ex_data(ssl, NoteIndex(), new SslNote{this, gateway, generation});
  // The gateway's certificate must name its node as a DNS subjectAltName (not the subject's CN).
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT);
  if (X509_VERIFY_PARAM_set1_host(param, node.c_str(), node.size()) != 1 ||
      SSL_set_tlsext_host_name(ssl, node.c_str()) != 1) {
    SSL_free(ssl);
    return absl::InvalidArgumentError(
        absl::StrCat("gateway node name \"", node, "\": ", LastError()));
  }
  // A ticket is used once (TLS 1.3 advice): the resumed handshake brings new ones.
  SSL_SESSION* resume = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sessions_.find(gateway);
    if (it != sessions_.end() && !it->second.empty()) {
      resume = it->second.back();
      it->second.pop_back();
    }
  }
  if (resume) {
    SSL_set_session(ssl, resume);
    SSL_SESSION_free(resume);
  }
  return ssl;
}

bool TlsClient::AlpnAgreed(SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  return n == sizeof(kFlowAlpn) - 1 &&
         std::string(reinterpret_cast<const char*>(p), n) == kFlowAlpn;
}

size_t TlsClient::KeptSessions(const std::string& gateway) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = sessions_.find(gateway);
  return it == sessions_.end() ? 0 : it->second.size();
}

}  // namespace warden::forwarder
