#include "agent/kube/api_client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <limits>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/common/openssl_errors.h"

namespace warden::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ApiClient::Tls {
  asio::ssl::context ctx{asio::ssl::context::tls_client};
};

namespace {

std::string ServerName(const ApiServerConfig& cfg) {
  return cfg.tls_server_name.empty() ? cfg.host : cfg.tls_server_name;
}

std::string HostHeader(const ApiServerConfig& cfg) {
  bool v6 = cfg.host.find(':') != std::string::npos;
  std::string host = v6 ? absl::StrCat("[", cfg.host, "]") : cfg.host;
  return cfg.port == "443" ? host : absl::StrCat(host, ":", cfg.port);
}

struct Exchange {
  const ApiServerConfig* cfg;
  const ApiTimeouts* timeouts;
  asio::ssl::context* ctx;
  std::string target;
  std::string token;
  const std::function<bool(std::string_view)>* on_line;  // null: a whole answer
  absl::StatusOr<ApiResponse>* out;
  std::string stage = "resolving the server's name";

  std::string Where() const {
    return absl::StrCat("API server ", cfg->host, ":", cfg->port, " (", cfg->origin, "), GET ",
                        target, ": ", stage);
  }

  // The lines of `data` to on_line, the unfinished one kept in `line`. False: on_line stopped.
  bool HandLines(std::string_view data, std::string* line) {
    while (!data.empty()) {
      size_t nl = data.find('\n');
      if (nl == std::string_view::npos) {
        line->append(data);
        if (line->size() > timeouts->max_line)
          throw std::length_error(
              absl::StrCat("a line longer than ", timeouts->max_line, " bytes"));
        return true;
      }
      line->append(data.substr(0, nl));
      data.remove_prefix(nl + 1);
      bool more = line->empty() || (*on_line)(*line);
      line->clear();
      if (!more) return false;
    }
    return true;
  }

  asio::awaitable<void> Run() {
    auto ex = co_await asio::this_coro::executor;
    try {
      tcp::resolver resolver(ex);
      beast::ssl_stream<beast::tcp_stream> s(ex, *ctx);
      beast::tcp_stream& conn = beast::get_lowest_layer(s);
      auto endpoints = co_await resolver.async_resolve(cfg->host, cfg->port, asio::use_awaitable);
      conn.expires_after(timeouts->connect);
      stage = "connecting";
      co_await conn.async_connect(endpoints, asio::use_awaitable);
      // A watch may be quiet for minutes: keepalives find a peer that is gone within a minute.
      int fd = conn.socket().native_handle(), on = 1, idle = 30, interval = 10, count = 3;
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
      // The name the certificate must carry: an IP literal is checked against IP SANs.
      std::string name = ServerName(*cfg);
      SSL* ssl = s.native_handle();
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      boost::system::error_code not_ip;
      asio::ip::make_address(name, not_ip);
      if (!not_ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
      } else {
        SSL_set_tlsext_host_name(ssl, name.c_str());
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      }
      stage = "TLS handshake";
      co_await s.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
      http::request<http::empty_body> req{http::verb::get, cfg->path_prefix + target, 11};
      req.set(http::field::host, HostHeader(*cfg));
      req.set(http::field::accept, "application/json");
      req.set(http::field::user_agent, "warden");
      if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
      stage = "sending the request";
      co_await http::async_write(s, req, asio::use_awaitable);
      stage = "reading the answer's head";
      beast::flat_buffer buf;
      http::response_parser<http::buffer_body> p;
      p.body_limit(std::numeric_limits<std::uint64_t>::max());  // counted below: a watch never ends
      co_await http::async_read_header(s, buf, p, asio::use_awaitable);
      ApiResponse r;
      r.status = p.get().result_int();
      const bool stream = on_line && r.status == 200;
      conn.expires_after(stream ? timeouts->idle : timeouts->request);
      stage = stream ? "reading the stream" : "reading the answer";
      std::string line;
      std::vector<char> chunk(64 * 1024);
      while (!p.is_done()) {
        p.get().body().data = chunk.data();
        p.get().body().size = chunk.size();
        boost::system::error_code ec;
        co_await http::async_read_some(s, buf, p, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) throw boost::system::system_error(ec);
        size_t n = chunk.size() - p.get().body().size;
        if (!stream) {
          if (r.body.size() + n > timeouts->max_body)
            throw std::length_error(absl::StrCat("an answer over ", timeouts->max_body, " bytes"));
          r.body.append(chunk.data(), n);
          continue;
        }
        conn.expires_after(timeouts->idle);
        if (!HandLines(std::string_view(chunk.data(), n), &line)) break;
      }
      if (stream && !line.empty()) (*on_line)(line);
      *out = std::move(r);
    } catch (const boost::system::system_error& e) {
      if (e.code() == beast::error::timeout) {
        *out = absl::DeadlineExceededError(absl::StrCat(Where(), ": timed out"));
      } else {
        *out = absl::UnavailableError(
            absl::StrCat(Where(), ": ", e.code().message(), common::OpenSslErrors()));
      }
    } catch (const std::length_error& e) {
      *out = absl::ResourceExhaustedError(absl::StrCat(Where(), ": ", e.what()));
    }
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<ApiClient>> ApiClient::Create(ApiServerConfig cfg,
                                                             ApiTimeouts timeouts) {
  auto tls = std::make_unique<Tls>();
  SSL_CTX_set_min_proto_version(tls->ctx.native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  tls->ctx.add_certificate_authority(asio::buffer(cfg.ca_pem), ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat(cfg.origin, ": the cluster CA is not a PEM certificate: ", ec.message()));
  tls->ctx.set_verify_mode(asio::ssl::verify_peer);
  if (!cfg.client_cert_pem.empty()) {
    tls->ctx.use_certificate_chain(asio::buffer(cfg.client_cert_pem), ec);
    if (!ec)
      tls->ctx.use_private_key(asio::buffer(cfg.client_key_pem), asio::ssl::context::pem, ec);
    if (!ec && SSL_CTX_check_private_key(tls->ctx.native_handle()) != 1)
      ec = asio::error::invalid_argument;
    if (ec)
      return absl::InvalidArgumentError(absl::StrCat(
          cfg.origin, ": the client certificate or key cannot be used: ", ec.message()));
  }
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(cfg), timeouts, std::move(tls)));
}

ApiClient::ApiClient(ApiServerConfig cfg, ApiTimeouts timeouts, std::unique_ptr<Tls> tls)
    : cfg_(std::move(cfg)), timeouts_(timeouts), tls_(std::move(tls)) {}

ApiClient::~ApiClient() = default;

absl::StatusOr<ApiResponse> ApiClient::Get(const std::string& target) {
  return Call(target, nullptr);
}

absl::StatusOr<ApiResponse> ApiClient::Stream(
    const std::string& target, const std::function<bool(std::string_view)>& on_line) {
  return Call(target, &on_line);
}

void ApiClient::Stop() {
  std::lock_guard<std::mutex> l(mu_);
  stopped_ = true;
  if (running_) static_cast<asio::io_context*>(running_)->stop();
}

absl::StatusOr<ApiResponse> ApiClient::Call(const std::string& target,
                                            const std::function<bool(std::string_view)>* on_line) {
  std::string token = cfg_.token;
  if (!cfg_.token_file.empty()) {
    auto t = common::ReadFile(cfg_.token_file);
    if (!t.ok())
      return absl::FailedPreconditionError(
          absl::StrCat(cfg_.origin, ": the token file: ", t.status().message()));
    token = std::move(*t);
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  }
  absl::StatusOr<ApiResponse> out = absl::CancelledError("stopped");
  Exchange x{&cfg_, &timeouts_, &tls_->ctx, target, std::move(token), on_line, &out};
  asio::io_context io;  // after x: a stopped call's coroutine is destroyed with io, before x
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return absl::CancelledError("stopped");
    running_ = &io;
  }
  asio::co_spawn(io, x.Run(), asio::detached);
  io.run();
  std::lock_guard<std::mutex> l(mu_);
  running_ = nullptr;
  if (stopped_) return absl::CancelledError("stopped");
  return out;
}

}  // namespace warden::kube
