#include "agent/gateway/upstream.h"

#include <sys/socket.h>

#include <openssl/x509_vfy.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/openssl_errors.h"

namespace warden::gateway {
namespace {
// A pooled connection idle less than this is used without checking that the server kept it.
constexpr auto kFreshIdle = std::chrono::seconds(2);
}  // namespace

std::string UpstreamTarget::Key() const {
  return absl::StrCat(host, "|", port, "|", tls ? 1 : 0, "|", sni, "|", absl::StrJoin(names, ","),
                      "|", files.ca, "|", files.cert, "|", files.key, "|", files.verify ? 1 : 0);
}

absl::StatusOr<UpstreamTarget> TargetFor(const egress::GatewayVerdict& v, const std::string& host,
                                         const policy::IpAddress& original, bool http,
                                         uint64_t pick) {
  if (!v.registration || !v.registration->entry || !v.registration->port)
    return absl::InternalError("no registration to connect to");
  const policy::ServiceEntry& e = *v.registration->entry;
  const policy::ServicePort& sp = *v.registration->port;
  UpstreamTarget t;
  uint32_t port = v.upstream.port ? v.upstream.port : sp.number;
  const policy::ServiceEndpoint* ep = nullptr;
  switch (e.resolution) {
    case policy::Resolution::kNone:
      t.host = original.ToString();
      break;
    case policy::Resolution::kStatic:
    case policy::Resolution::kDns:
    case policy::Resolution::kDnsRoundRobin:
      if (!e.endpoints.empty()) {
        ep = &e.endpoints[pick % e.endpoints.size()];
        t.host = ep->address;
      } else if (e.resolution == policy::Resolution::kStatic) {
        return absl::FailedPreconditionError(
            absl::StrCat("ServiceEntry ", e.Key(), " has STATIC resolution and no endpoints"));
      } else {
        t.host = host;
      }
      break;
    case policy::Resolution::kDynamicDns:
      t.host = host;
      break;
  }
  if (ep) {
    for (const auto& [name, number] : ep->ports)
      if (name == sp.name) port = number;
  }
  if (port == 0 || port > 65535) return absl::FailedPreconditionError("upstream port out of range");
  t.port = static_cast<uint16_t>(port);
  t.cluster = absl::StrCat("outbound|", sp.number, "||", *v.registration->host);
  if (!http) return t;
  switch (v.upstream.tls) {
    case policy::TlsMode::kDisable:
      return t;
    case policy::TlsMode::kIstioMutual:
      return absl::FailedPreconditionError(
          "DestinationRule asks for ISTIO_MUTUAL to an external host: no mesh identity to present");
    case policy::TlsMode::kSimple:
    case policy::TlsMode::kMutual:
      break;
  }
  t.tls = true;
  const policy::ClientTls* s = v.upstream.settings;
  t.sni = s && !s->sni.empty() ? s->sni : host;
  if (s && !s->subject_alt_names.empty()) {
    t.names = s->subject_alt_names;
  } else {
    t.names = {host};
  }
  if (s) {
    t.files.ca = s->ca_certificates;
    if (v.upstream.tls == policy::TlsMode::kMutual) {
      t.files.cert = s->client_certificate;
      t.files.key = s->private_key;
    }
    t.files.verify = !s->insecure_skip_verify.value_or(false);
  }
  return t;
}

UpstreamConn::UpstreamConn(std::string key, std::unique_ptr<Stream> stream, bool tls)
    : key_(std::move(key)), stream_(std::move(stream)), tls_(tls) {
  remote_ = stream_->socket().Remote();
  local_ = stream_->socket().Local();
}

bool UpstreamConn::StillUsable() {
  char byte;
  ssize_t n = ::recv(stream_->socket().fd(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // EOF (0) or anything to read while idle (a close_notify, a stray response) retires it.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::unique_ptr<UpstreamConn> UpstreamPool::Take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& v = it->second;
  const auto now = Clock::now();
  while (!v.empty()) {
    std::unique_ptr<UpstreamConn> c = std::move(v.back());
    v.pop_back();
    if (now - c->idle_since >= t_.idle) continue;
    // One that was busy a moment ago is taken without a look (a system call per request); one
    // the server closed since fails before the response and the request is sent again.
    if (now - c->idle_since < kFreshIdle || c->StillUsable()) return c;
  }
  idle_.erase(it);
  return nullptr;
}

void UpstreamPool::Put(std::unique_ptr<UpstreamConn> c) {
  auto& v = idle_[c->key()];
  c->idle_since = Clock::now();
  // The oldest go first: they are the likeliest to be closed by the server.
  if (v.size() >= t_.max_idle_per_key) v.erase(v.begin());
  v.push_back(std::move(c));
}

Task<std::unique_ptr<UpstreamConn>> UpstreamPool::Connect(const UpstreamTarget& t,
                                                          UpstreamFailure* failure, bool* reused) {
  *reused = false;
  if (auto c = Take(t.Key())) {
    *reused = true;
    ++reused_;
    co_return c;
  }
  co_return co_await Dial(t, failure);
}

Task<std::unique_ptr<UpstreamConn>> UpstreamPool::Dial(const UpstreamTarget& t,
                                                       UpstreamFailure* failure) {
  const std::string key = t.Key();
  const Deadline by = In(t_.connect);
  std::string error;
  bool timed_out = false;
  std::unique_ptr<Socket> s = co_await gateway::Dial(ring_, t.host, t.port, by, &error, &timed_out);
  if (!s) {
    *failure = {timed_out ? "UT" : (error.rfind("cannot resolve", 0) == 0 ? "DF" : "UF"), error};
    co_return nullptr;
  }
  ++created_;
  if (!t.tls) {
    co_return std::make_unique<UpstreamConn>(key, std::make_unique<PlainStream>(std::move(s)),
                                             false);
  }
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ctx = contexts_->Get(t.files);
  if (!ctx.ok()) {
    *failure = {"UF", std::string(ctx.status().message())};
    co_return nullptr;
  }
  // SSL_new up-refs the context's SSL_CTX, so the shared context may be replaced while
  // connections made from it live on.
  SSL* ssl = SSL_new((*ctx)->native_handle());
  if (!ssl) {
    *failure = {"UF", absl::StrCat("TLS_error:|", common::OpenSslErrors())};
    co_return nullptr;
  }
  if (!t.sni.empty()) SSL_set_tlsext_host_name(ssl, t.sni.c_str());
  if (t.files.verify) {
    bool first = true;
    for (const std::string& n : t.names) {
      if (first) {
        SSL_set1_host(ssl, n.c_str());
        first = false;
      } else {
        SSL_add1_host(ssl, n.c_str());
      }
    }
  }
  auto tls = std::make_unique<TlsStream>(std::move(s), ssl, /*server=*/false);
  error_code ec = co_await tls->Handshake(by);
  if (ec) {
    std::string why = tls->TlsDetails().empty() ? ec.message() : tls->TlsDetails();
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
    *failure = {IsTimeout(ec) ? "UT" : "UF",
                absl::StrCat("TLS_error:|", why, " (", t.host, ":", t.port, ", SNI ", t.sni, ")")};
    co_return nullptr;
  }
  co_return std::make_unique<UpstreamConn>(key, std::move(tls), true);
}

}  // namespace warden::gateway
