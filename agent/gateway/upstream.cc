#include "agent/gateway/upstream.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::gateway {
namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

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

UpstreamConn::UpstreamConn(std::string key, beast::tcp_stream plain)
    : key_(std::move(key)), plain_(std::make_unique<beast::tcp_stream>(std::move(plain))) {
  Addresses();
}

UpstreamConn::UpstreamConn(std::string key, std::unique_ptr<Tls> tls)
    : key_(std::move(key)), tls_(std::move(tls)) {
  Addresses();
}

void UpstreamConn::Addresses() {
  boost::system::error_code ec;
  auto r = tcp().socket().remote_endpoint(ec);
  if (!ec) remote_ = absl::StrCat(r.address().to_string(), ":", r.port());
  auto l = tcp().socket().local_endpoint(ec);
  if (!ec) local_ = absl::StrCat(l.address().to_string(), ":", l.port());
}

bool UpstreamConn::StillUsable() {
  char byte;
  ssize_t n = ::recv(tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // EOF (0) or anything to read while idle (a close_notify, a stray response) retires it.
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::unique_ptr<UpstreamConn> UpstreamPool::Take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& v = it->second;
  const auto now = std::chrono::steady_clock::now();
  while (!v.empty()) {
    std::unique_ptr<UpstreamConn> c = std::move(v.back());
    v.pop_back();
    if (now - c->idle_since < t_.idle && c->StillUsable()) return c;
  }
  idle_.erase(it);
  return nullptr;
}

void UpstreamPool::Put(std::unique_ptr<UpstreamConn> c) {
  auto& v = idle_[c->key()];
  c->idle_since = std::chrono::steady_clock::now();
  // The oldest go first: they are the likeliest to be closed by the server.
  if (v.size() >= t_.max_idle_per_key) v.erase(v.begin());
  v.push_back(std::move(c));
}

asio::awaitable<std::unique_ptr<UpstreamConn>> UpstreamPool::Connect(const UpstreamTarget& t,
                                                                     UpstreamFailure* failure,
                                                                     bool* reused) {
  const std::string key = t.Key();
  *reused = false;
  if (auto c = Take(key)) {
    *reused = true;
    ++reused_;
    co_return c;
  }
  co_return co_await Dial(t, failure);
}

asio::awaitable<std::unique_ptr<UpstreamConn>> UpstreamPool::Dial(const UpstreamTarget& t,
                                                                  UpstreamFailure* failure) {
  const std::string key = t.Key();
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  tcp::resolver resolver(ex);
  auto endpoints = co_await resolver.async_resolve(t.host, std::to_string(t.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    *failure = {"DF", absl::StrCat("cannot resolve ", t.host, ": ", ec.message())};
    co_return nullptr;
  }
  beast::tcp_stream stream(ex);
  stream.expires_after(t_.connect);
  co_await stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    *failure = {ec == beast::error::timeout ? "UT" : "UF",
                absl::StrCat("connect to ", t.host, ":", t.port, ": ", ec.message())};
    co_return nullptr;
  }
  stream.socket().set_option(tcp::no_delay(true), ec);
  ++created_;
  if (!t.tls) {
    stream.expires_never();
    co_return std::make_unique<UpstreamConn>(key, std::move(stream));
  }
  absl::StatusOr<std::shared_ptr<asio::ssl::context>> ctx = contexts_->Get(t.files);
  if (!ctx.ok()) {
    *failure = {"UF", std::string(ctx.status().message())};
    co_return nullptr;
  }
  // The stream keeps a reference to the context's SSL_CTX (up-ref'd by SSL_new), so the
  // shared context may be replaced while connections made from it live on.
  auto tls = std::make_unique<UpstreamConn::Tls>(std::move(stream), **ctx);
  SSL* ssl = tls->native_handle();
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
  co_await tls->async_handshake(asio::ssl::stream_base::client,
                                asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    std::string why = ec.message();
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
    *failure = {ec == beast::error::timeout ? "UT" : "UF",
                absl::StrCat("TLS_error:|", why, " (", t.host, ":", t.port, ", SNI ", t.sni, ")")};
    co_return nullptr;
  }
  tls->next_layer().expires_never();
  co_return std::make_unique<UpstreamConn>(key, std::move(tls));
}

}  // namespace warden::gateway
