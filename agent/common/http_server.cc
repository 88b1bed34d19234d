#include "agent/common/http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::common {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpServer::Impl {
  asio::io_context io;
  tcp::acceptor acceptor{io};
  Handler handler;
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;  // closed
      Serve(std::move(socket));
      Accept();
    });
  }

  // Requests are tiny and answered at once; serving them in line keeps this simple.
  void Serve(tcp::socket socket) {
    beast::error_code ec;
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    socket.set_option(tcp::no_delay(true), ec);
    http::read(socket, buf, req, ec);
    if (ec) return;
    std::string path(req.target());
    HttpResponse r;
    if (req.method() != http::verb::get) {
      r = HttpResponse{405, "text/plain", "only GET\n"};
    } else {
      r = handler(path);
    }
    http::response<http::string_body> res{static_cast<http::status>(r.status), req.version()};
    res.set(http::field::content_type, r.content_type);
    res.keep_alive(false);
    res.body() = std::move(r.body);
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& address,
                                                              Handler handler) {
  size_t colon = address.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("\"", address, "\" is not HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  auto ip = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\": bad address: ", ec.message()));
  std::unique_ptr<HttpServer> s(new HttpServer());
  s->impl_ = std::make_unique<Impl>();
  s->impl_->handler = std::move(handler);
  tcp::endpoint ep(ip, static_cast<uint16_t>(port));
  auto& acc = s->impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::UnavailableError(absl::StrCat("listening on ", address, ": ", ec.message()));
  s->port_ = acc.local_endpoint().port();
  s->impl_->Accept();
  s->impl_->thread = std::thread([impl = s->impl_.get()] { impl->io.run(); });
  return s;
}

HttpServer::~HttpServer() {
  if (!impl_) return;
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace warden::common
