#include "tests/bench/gateway_load.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <utility>  // before Boost.Asio 1.74's awaitable.hpp, which uses std::exchange unincluded

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "agent/nodestate/flow_header.h"

namespace warden::bench {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Tls = asio::ssl::stream<tcp::socket>;

namespace {

void ConfigureClient(asio::ssl::context& ctx, const LoadSpec& s) {
  ctx.load_verify_file(s.ca);
  ctx.use_certificate_chain_file(s.cert);
  ctx.use_private_key_file(s.key, asio::ssl::context::pem);
  ctx.set_verify_mode(asio::ssl::verify_peer);
}

std::string FlowHeader() {
  nodestate::Flow f;
  f.ns = "bench";
  f.pod = "client";
  f.service_account = "client";
  f.original_ip = *policy::ParseIp("203.0.113.10");
  f.original_port = 80;
  return nodestate::EncodeFlowHeader(f);
}

// A connection ready to carry requests: connected, handshaken, the flow header sent.
asio::awaitable<bool> Open(Tls& s, const LoadSpec& spec) {
  boost::system::error_code ec;
  co_await s.next_layer().async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), spec.port),
      asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  s.next_layer().set_option(tcp::no_delay(true), ec);
  co_await s.async_handshake(asio::ssl::stream_base::client,
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  if (spec.flow_header) {
    static const std::string header = FlowHeader();
    co_await asio::async_write(s, asio::buffer(header),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
  }
  co_return true;
}

struct Shared {
  Clock::time_point measure_from, end;
  std::vector<double> latencies_us;
  uint64_t errors = 0;
  int running = 0;
};

asio::awaitable<void> Client(asio::ssl::context& ctx, const LoadSpec& spec, Shared* sh) {
  auto ex = co_await asio::this_coro::executor;
  Tls s(ex, ctx);
  const bool opened = co_await Open(s, spec);
  if (!opened) {
    ++sh->errors;
    --sh->running;
    co_return;
  }
  static const std::string req =
      "GET /bench HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n\r\n";
  boost::beast::flat_buffer buf;
  boost::system::error_code ec;
  while (Clock::now() < sh->end) {
    const auto t0 = Clock::now();
    co_await asio::async_write(s, asio::buffer(req), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    http::response<http::string_body> res;
    co_await http::async_read(s, buf, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    const auto t1 = Clock::now();
    if (res.result_int() != 200) {
      ++sh->errors;
      continue;
    }
    if (t0 >= sh->measure_from && t1 <= sh->end)
      sh->latencies_us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  if (ec) ++sh->errors;
  --sh->running;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(p * (v.size() - 1));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

}  // namespace

LoadResult RunLoad(const LoadSpec& spec, const std::function<void()>& at_start,
                   const std::function<void()>& at_end) {
  asio::io_context io(1);
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ConfigureClient(ctx, spec);
  Shared sh;
  const auto start = Clock::now();
  sh.measure_from = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(spec.warmup_seconds));
  sh.end = sh.measure_from +
           std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(spec.seconds));
  sh.running = spec.connections;
  for (int i = 0; i < spec.connections; ++i)
    asio::co_spawn(io, Client(ctx, spec, &sh), asio::detached);
  // The proxy's CPU is read at the measured span's edges, from timers on the same loop.
  asio::steady_timer t_start(io, sh.measure_from), t_end(io, sh.end);
  t_start.async_wait([&](const boost::system::error_code&) { at_start(); });
  t_end.async_wait([&](const boost::system::error_code&) { at_end(); });
  io.run();
  LoadResult r;
  r.requests = sh.latencies_us.size();
  r.errors = sh.errors;
  r.seconds = spec.seconds;
  r.rps = static_cast<double>(r.requests) / spec.seconds;
  r.p50_us = Percentile(sh.latencies_us, 0.50);
  r.p99_us = Percentile(sh.latencies_us, 0.99);
  return r;
}

struct IdleConnections::Impl {
  asio::io_context io{1};
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  std::vector<std::unique_ptr<Tls>> conns;
};

IdleConnections::IdleConnections(const LoadSpec& spec, int n) : impl_(std::make_unique<Impl>()) {
  ConfigureClient(impl_->ctx, spec);
  int ok = 0;
  // A few dozen handshakes at a time: the proxy's accept queue is not the thing measured.
  const int batch = 64;
  for (int done = 0; done < n;) {
    const int now = std::min(batch, n - done);
    for (int i = 0; i < now; ++i) {
      impl_->conns.push_back(std::make_unique<Tls>(impl_->io, impl_->ctx));
      Tls* s = impl_->conns.back().get();
      asio::co_spawn(
          impl_->io,
          [s, &spec, &ok]() -> asio::awaitable<void> {
            if (co_await Open(*s, spec)) ++ok;
          },
          asio::detached);
    }
    impl_->io.run();
    impl_->io.restart();
    done += now;
  }
  open_ = ok;
}

IdleConnections::~IdleConnections() = default;

}  // namespace warden::bench
