#include "agent/gateway/gateway.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"

namespace warden::gateway {
namespace asio = boost::asio;
using asio::ip::tcp;

struct Gateway::Worker {
  explicit Worker(UpstreamContexts* ctx, UpstreamTimeouts t) : pool(ctx, t) {}
  asio::io_context io{1};
  std::unique_ptr<tcp::acceptor> acceptor;
  UpstreamPool pool;
};

namespace {

absl::StatusOr<tcp::endpoint> ParseListen(const std::string& s) {
  size_t colon = s.rfind(':');
  uint32_t port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(s.substr(colon + 1), &port) || port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("--listen ", s, ": not HOST:PORT"));
  std::string host = s.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("--listen ", s, ": ", ec.message()));
  return tcp::endpoint(addr, static_cast<uint16_t>(port));
}

asio::awaitable<void> AcceptLoop(tcp::acceptor& acceptor, UpstreamPool* pool, const Services* g) {
  while (acceptor.is_open()) {
    boost::system::error_code ec;
    tcp::socket s = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // EMFILE and the like: the next accept may succeed
    }
    asio::co_spawn(acceptor.get_executor(), ServeFlow(std::move(s), pool, g), asio::detached);
  }
}

}  // namespace

Gateway::Gateway(GatewayProcessOptions o) : o_(std::move(o)) {}

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(GatewayProcessOptions o) {
  if (o.workers < 1 || o.workers > 256)
    return absl::InvalidArgumentError("--workers: from 1 to 256");
  std::unique_ptr<Gateway> g(new Gateway(std::move(o)));
  WD_ASSIGN_OR_RETURN(g->log_, AccessLog::Open(g->o_.access_log));
  WD_ASSIGN_OR_RETURN(g->services_.listener_tls,
                      ListenerContext(g->o_.control.cert, g->o_.control.key, g->o_.control.ca));
  g->upstream_tls_ = std::make_unique<UpstreamContexts>(g->o_.upstream_ca);
  g->services_.state = &g->state_;
  g->services_.log = g->log_.get();
  g->services_.metrics = &g->metrics_;
  g->services_.trust_domain = g->o_.gateway.authz.trust_domain;
  g->services_.limits = g->o_.limits;
  WD_RETURN_IF_ERROR(g->Listen());
  if (!g->o_.metrics.empty()) {
    Gateway* self = g.get();
    WD_ASSIGN_OR_RETURN(
        g->admin_, common::HttpServer::Start(g->o_.metrics, [self](const std::string& path) {
          common::HttpResponse r;
          if (path == "/metrics") {
            r.body = self->metrics_.Text(self->state_.version(), self->ready());
          } else if (path == "/ready") {
            r.status = self->ready() ? 200 : 503;
            r.body = self->ready() ? "ready\n" : "no state from the control plane yet\n";
          } else {
            r.status = 404;
            r.body = "not found\n";
          }
          return r;
        }));
  }
  if (!g->o_.control.address.empty()) {
    g->sync_ = std::make_unique<GatewaySync>(g->o_.control, g->o_.gateway, &g->state_);
    g->sync_->Start();
  }
  for (auto& w : g->workers_) {
    Worker* worker = w.get();
    asio::co_spawn(worker->io, AcceptLoop(*worker->acceptor, &worker->pool, &g->services_),
                   asio::detached);
    g->threads_.emplace_back([worker] { worker->io.run(); });
  }
  return g;
}

absl::Status Gateway::Listen() {
  WD_ASSIGN_OR_RETURN(tcp::endpoint ep, ParseListen(o_.listen));
  for (int i = 0; i < o_.workers; ++i) {
    auto w = std::make_unique<Worker>(upstream_tls_.get(), o_.upstream);
    // Every worker has its own socket on the port (SO_REUSEPORT): the kernel spreads
    // connections, and a worker's connections never touch another's state.
    w->acceptor = std::make_unique<tcp::acceptor>(w->io);
    boost::system::error_code ec;
    w->acceptor->open(ep.protocol(), ec);
    if (!ec) w->acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(w->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) !=
          0)
        ec = boost::system::error_code(errno, boost::system::system_category());
    }
    if (!ec) w->acceptor->bind(ep, ec);
    if (!ec) w->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("--listen ", o_.listen, ": ", ec.message()));
    port_ = w->acceptor->local_endpoint().port();
    ep.port(port_);  // port 0: the others take the port the first was given
    workers_.push_back(std::move(w));
  }
  return absl::OkStatus();
}

Gateway::~Gateway() {
  if (sync_) sync_->Stop();
  for (auto& w : workers_) w->io.stop();
  for (auto& t : threads_) t.join();
  workers_.clear();
  admin_.reset();
}

}  // namespace warden::gateway
