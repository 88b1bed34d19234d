#include "agent/forwarder/forwarder.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <time.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/forwarder/gateway_order.h"
#include "agent/nodestate/flow_header.h"

namespace warden::forwarder {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};
using SslPtr = std::unique_ptr<SSL, SslFree>;

auto Ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

// Runs `op` (one OpenSSL call on `ssl`, retried with the same arguments) until it completes,
// waiting for the socket as OpenSSL asks. Returns the call's result when positive, 0 when the
// peer closed the TLS stream (close_notify), -1 on an error (or a cancelled wait).
template <typename Op>
asio::awaitable<int> Drive(tcp::socket& s, SSL* ssl, Op op) {
  for (;;) {
    ERR_clear_error();
    int r = op();
    if (r > 0) co_return r;
    int e = SSL_get_error(ssl, r);
    error_code ec;
    if (e == SSL_ERROR_WANT_READ) {
      co_await s.async_wait(tcp::socket::wait_read, Ec(ec));
    } else if (e == SSL_ERROR_WANT_WRITE) {
      co_await s.async_wait(tcp::socket::wait_write, Ec(ec));
    } else {
      co_return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
    }
    if (ec) co_return -1;
  }
}

asio::awaitable<bool> SslWriteAll(tcp::socket& s, SSL* ssl, const char* p, size_t n) {
  while (n > 0) {
    const int len = static_cast<int>(std::min<size_t>(n, 1 << 20));
    int r = co_await Drive(s, ssl, [&] { return SSL_write(ssl, p, len); });
    if (r <= 0) co_return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  co_return true;
}

policy::IpAddress FromAsio(const asio::ip::address& a) {
  policy::IpAddress out;
  if (a.is_v4() || (a.is_v6() && a.to_v6().is_v4_mapped())) {
    auto b = a.is_v4() ? a.to_v4().to_bytes() : a.to_v6().to_v4().to_bytes();
    out.family = policy::Family::kV4;
    std::copy(b.begin(), b.end(), out.bytes.begin());
  } else {
    auto b = a.to_v6().to_bytes();
    out.family = policy::Family::kV6;
    std::copy(b.begin(), b.end(), out.bytes.begin());
  }
  return out;
}

// Resets a connection (RST, not FIN): the pod's next read or write fails at once.
void Reset(tcp::socket& s) {
  error_code ec;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

int64_t WallNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// A TLS connection to a gateway.
struct GatewayConn {
  tcp::socket sock;
  SslPtr ssl;
  bool resumed = false;
};

}  // namespace

struct Forwarder::Impl {
  Forwarder* self = nullptr;
  ForwarderOptions opts;
  std::shared_ptr<NodeView> view;
  std::unique_ptr<FlowRecords> records;
  std::unique_ptr<TlsClient> tls;
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  common::Logger log{"forwarder"};
  size_t next = 0;  // where the next flow starts round the gateways
  mutable std::mutex mu;
  std::map<std::string, GatewayStats> stats;            // by gateway pod
  std::map<std::string, Clock::time_point> down_until;  // by gateway "addr:port"
  std::atomic<uint64_t> active{0}, bytes_up{0}, bytes_down{0}, full_handshakes{0};

  static std::string KeyOf(const nodestate::GatewayEndpoint& g) {
    return absl::StrCat(g.address.ToString(), ":", g.port);
  }

  // A TCP connection and TLS handshake with `g` within the connect timeout; `why` says what
  // failed.
  asio::awaitable<std::optional<GatewayConn>> Connect(const nodestate::GatewayEndpoint& g,
                                                      std::string* why) {
    auto ex = co_await asio::this_coro::executor;
    tcp::socket s(ex);
    error_code ec;
    auto addr = asio::ip::make_address(g.address.ToString(), ec);
    if (ec) {
      *why = "bad address";
      co_return std::nullopt;
    }
    asio::steady_timer deadline(ex);
    deadline.expires_after(opts.connect_timeout);
    bool timed_out = false;
    // The handler touches `s` only when the timer fired (not when cancelled: then this frame
    // may be gone).
    deadline.async_wait([&s, &timed_out](error_code e) {
      if (e) return;
      timed_out = true;
      error_code ignored;
      s.cancel(ignored);
    });
    co_await s.async_connect(tcp::endpoint(addr, g.port), Ec(ec));
    if (ec) {
      *why = timed_out ? "connect timed out" : ec.message();
      co_return std::nullopt;
    }
    s.set_option(tcp::no_delay(true), ec);
    s.non_blocking(true, ec);
    auto made = tls->NewSsl(KeyOf(g), g.node);
    if (!made.ok()) {
      *why = std::string(made.status().message());
      co_return std::nullopt;
    }
    SslPtr ssl(*made);
    SSL_set_fd(ssl.get(), s.native_handle());
    int r = co_await Drive(s, ssl.get(), [&] { return SSL_connect(ssl.get()); });
    if (r <= 0) {
      long verify = SSL_get_verify_result(ssl.get());
      *why = timed_out             ? "TLS handshake timed out"
             : verify != X509_V_OK ? absl::StrCat("gateway certificate (node \"", g.node,
                                                  "\"): ", X509_verify_cert_error_string(verify))
                                   : "TLS handshake: " + TlsClient::LastError();
      co_return std::nullopt;
    }
    deadline.cancel();
    if (!TlsClient::AlpnAgreed(ssl.get())) {
      *why = absl::StrCat("the gateway did not agree to ALPN ", kFlowAlpn);
      co_return std::nullopt;
    }
    GatewayConn c{std::move(s), std::move(ssl), false};
    c.resumed = SSL_session_reused(c.ssl.get()) == 1;
    co_return std::optional<GatewayConn>(std::move(c));
  }

  // The gateways of `snap` in the order this flow tries them.
  std::vector<size_t> Order(const NodeSnapshot& snap) {
    const auto now = Clock::now();
    std::vector<bool> down(snap.gateways.size());
    {
      std::lock_guard<std::mutex> l(mu);
      for (size_t i = 0; i < snap.gateways.size(); ++i) {
        auto it = down_until.find(KeyOf(snap.gateways[i]));
        down[i] = it != down_until.end() && it->second > now;
      }
    }
    return GatewayOrder(snap.gateways.size(), next++, down);
  }

  void NoteConnect(const nodestate::GatewayEndpoint& g, bool ok, bool resumed) {
    std::lock_guard<std::mutex> l(mu);
    GatewayStats& st = stats[g.pod];
    if (ok) {
      ++st.connects;
      ++st.flows;
      if (resumed) ++st.resumed;
      down_until.erase(KeyOf(g));
    } else {
      ++st.connect_failures;
      down_until[KeyOf(g)] = Clock::now() + opts.down_for;
    }
  }

  void Log(const nlohmann::json& j) {
    if (opts.log_line) opts.log_line(j.dump());
  }

  asio::awaitable<void> Serve(tcp::socket pod);
};

namespace {

// gateway -> pod until the gateway's stream ends, then the pod is told (half-close); then
// `*done` is set and `done_timer` woken.
asio::awaitable<void> Downward(tcp::socket* pod, GatewayConn* gw, std::atomic<uint64_t>* total,
                               uint64_t* bytes, bool* done, asio::steady_timer* done_timer) {
  std::vector<char> buf(16384);
  error_code ec;
  for (;;) {
    SSL* ssl = gw->ssl.get();
    int r = co_await Drive(gw->sock, ssl,
                           [&] { return SSL_read(ssl, buf.data(), static_cast<int>(buf.size())); });
    if (r <= 0) break;
    co_await asio::async_write(*pod, asio::buffer(buf.data(), static_cast<size_t>(r)), Ec(ec));
    if (ec) break;
    *bytes += static_cast<uint64_t>(r);
    *total += static_cast<uint64_t>(r);
  }
  pod->shutdown(tcp::socket::shutdown_send, ec);
  *done = true;
  done_timer->cancel();
}

// pod -> gateway until the pod is done sending, then close_notify (the gateway may still
// answer: TLS 1.3 streams close each way on their own).
asio::awaitable<void> Upward(tcp::socket* pod, GatewayConn* gw, std::atomic<uint64_t>* total,
                             uint64_t* bytes) {
  std::vector<char> buf(16384);
  error_code ec;
  for (;;) {
    size_t n = co_await pod->async_read_some(asio::buffer(buf), Ec(ec));
    if (ec || n == 0) break;
    if (!co_await SslWriteAll(gw->sock, gw->ssl.get(), buf.data(), n)) break;
    *bytes += n;
    *total += n;
  }
  SSL* ssl = gw->ssl.get();
  // SSL_shutdown returns 0 once our close_notify is out (the peer's not seen yet): done.
  co_await Drive(gw->sock, ssl, [&] {
    int r = SSL_shutdown(ssl);
    return r >= 0 ? 1 : r;
  });
}

}  // namespace

asio::awaitable<void> Forwarder::Impl::Serve(tcp::socket pod) {
  ++active;
  const auto start = Clock::now();
  nlohmann::json j;
  j["time"] = common::Rfc3339(WallNs());
  j["node"] = opts.node;
  j["hook"] = "forwarder";
  j["protocol"] = "TCP";
  error_code ec;
  tcp::endpoint peer = pod.remote_endpoint(ec);
  const policy::IpAddress src = FromAsio(peer.address());
  j["src"] = src.ToString();
  j["sport"] = peer.port();
  auto refuse = [&](Outcome o, const std::string& why) {
    ++self->outcomes_[o];
    j["verdict"] = "deny";
    j["reason"] = OutcomeName(o);
    j["detail"] = why;
    Log(j);
    Reset(pod);
    --active;
  };
  auto rec = ec ? absl::StatusOr<std::optional<Record>>(absl::UnavailableError(ec.message()))
                : records->Take(src, peer.port());
  if (!rec.ok()) {
    log.Warning("reading the record of ", src.ToString(), ":", peer.port(), ": ",
                rec.status().message());
    refuse(kRecordError, std::string(rec.status().message()));
    co_return;
  }
  if (!rec->has_value()) {
    refuse(kNoRecord, "no record: not a connection the programs redirected");
    co_return;
  }
  const Record& r = **rec;
  j["dst"] = r.original_ip.ToString();
  j["dport"] = r.original_port;
  j["identity"] = r.identity;
  j["flow_id"] = r.cookie;
  std::shared_ptr<const NodeSnapshot> snap = view->Get();
  auto flow = FlowOf(*snap, r, src);
  if (!flow.ok()) {
    refuse(kUnknownPod, std::string(flow.status().message()));
    co_return;
  }
  j["namespace"] = flow->ns;
  j["pod"] = flow->pod;
  j["service_account"] = flow->service_account;

  std::optional<GatewayConn> gw;
  const nodestate::GatewayEndpoint* chosen = nullptr;
  std::vector<std::string> failures;
  for (size_t i : Order(*snap)) {
    const nodestate::GatewayEndpoint& g = snap->gateways[i];
    std::string why;
    gw = co_await Connect(g, &why);
    NoteConnect(g, gw.has_value(), gw && gw->resumed);
    if (gw) {
      chosen = &g;
      break;
    }
    log.Warning("gateway ", g.pod, " (", KeyOf(g), ", node ", g.node, "): ", why);
    failures.push_back(absl::StrCat(g.pod, ": ", why));
  }
  if (!gw) {
    refuse(kNoGateway, snap->gateways.empty() ? "no gateway known"
                                              : absl::StrCat("no gateway reachable (",
                                                             absl::StrJoin(failures, "; "), ")"));
    co_return;
  }
  if (!gw->resumed) ++full_handshakes;
  j["gateway"] = chosen->pod;
  j["gateway_node"] = chosen->node;
  j["tls_resumed"] = gw->resumed;
  const std::string header = nodestate::EncodeFlowHeader(*flow);
  if (!co_await SslWriteAll(gw->sock, gw->ssl.get(), header.data(), header.size())) {
    refuse(kNoGateway, "writing the flow header: " + TlsClient::LastError());
    co_return;
  }
  ++self->outcomes_[kForwarded];
  pod.set_option(tcp::no_delay(true), ec);
  uint64_t up = 0, down = 0;
  bool down_done = false;
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer done(ex, Clock::time_point::max());
  asio::co_spawn(ex, Downward(&pod, &*gw, &bytes_down, &down, &down_done, &done), asio::detached);
  co_await Upward(&pod, &*gw, &bytes_up, &up);
  if (!down_done) co_await done.async_wait(Ec(ec));
  j["verdict"] = "allow";
  j["reason"] = OutcomeName(kForwarded);
  j["bytes_up"] = up;
  j["bytes_down"] = down;
  j["duration_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  Log(j);
  --active;
}

namespace {

asio::awaitable<void> ServeOne(Forwarder::Impl* impl, tcp::socket s) {
  try {
    co_await impl->Serve(std::move(s));
  } catch (const std::exception& e) {
    // Nothing in Serve throws by design (every operation takes an error code); a bug must not
    // take the other flows down with it.
    impl->log.Error("a flow failed: ", e.what());
  }
}

asio::awaitable<void> AcceptLoop(Forwarder::Impl* impl) {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await impl->acceptor.async_accept(Ec(ec));
    if (ec) {
      if (!impl->acceptor.is_open()) co_return;
      continue;
    }
    asio::co_spawn(impl->io, ServeOne(impl, std::move(s)), asio::detached);
  }
}

}  // namespace

const char* Forwarder::OutcomeName(int o) {
  switch (o) {
    case kForwarded:
      return "forwarded";
    case kNoRecord:
      return "no-record";
    case kUnknownPod:
      return "unknown-pod";
    case kNoGateway:
      return "no-gateway";
    case kRecordError:
      return "record-error";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<Forwarder>> Forwarder::Create(ForwarderOptions opts,
                                                             std::shared_ptr<NodeView> view,
                                                             std::unique_ptr<FlowRecords> records) {
  std::unique_ptr<Forwarder> f(new Forwarder());
  f->impl_ = std::make_unique<Impl>();
  Impl& impl = *f->impl_;
  impl.self = f.get();
  impl.view = std::move(view);
  impl.records = std::move(records);
  auto tls = TlsClient::Create(opts.tls);
  if (!tls.ok()) return tls.status();
  impl.tls = std::move(*tls);
  size_t colon = opts.listen.rfind(':');
  uint32_t port = 0;
  error_code ec;
  asio::ip::address addr;
  if (colon != std::string::npos) addr = asio::ip::make_address(opts.listen.substr(0, colon), ec);
  if (colon == std::string::npos || ec || !addr.is_v4() ||
      !absl::SimpleAtoi(opts.listen.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--forwarder-listen must be IPV4:PORT, not \"", opts.listen, "\""));
  }
  tcp::endpoint ep(addr, static_cast<uint16_t>(port));
  impl.acceptor.open(ep.protocol(), ec);
  if (!ec) impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) impl.acceptor.bind(ep, ec);
  if (!ec) impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("forwarder: listening on ", opts.listen, ": ", ec.message()));
  f->port_ = impl.acceptor.local_endpoint().port();
  impl.opts = std::move(opts);
  impl.log = common::Logger("forwarder " + impl.opts.node);
  return f;
}

void Forwarder::Start() {
  if (thread_.joinable()) return;
  asio::co_spawn(impl_->io, AcceptLoop(impl_.get()), asio::detached);
  thread_ = std::thread([this] { impl_->io.run(); });
  impl_->log.Info("listening on ", impl_->acceptor.local_endpoint().address().to_string(), ":",
                  port_, " (gateways from the node's state)");
}

void Forwarder::Stop() {
  if (!impl_) return;
  impl_->io.stop();
  if (thread_.joinable()) thread_.join();
  error_code ec;
  impl_->acceptor.close(ec);
}

Forwarder::~Forwarder() { Stop(); }

GatewayStats Forwarder::gateway_stats(const std::string& pod) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = impl_->stats.find(pod);
  return it == impl_->stats.end() ? GatewayStats{} : it->second;
}

void Forwarder::AppendMetrics(const std::string& node, std::string* out) const {
  absl::StrAppend(out,
                  "# HELP warden_forwarder_connections_total Connections the node forwarder "
                  "accepted, by outcome.\n# TYPE warden_forwarder_connections_total counter\n");
  for (int o = 0; o < kOutcomes; ++o) {
    absl::StrAppend(out, "warden_forwarder_connections_total{", node, ",outcome=\"", OutcomeName(o),
                    "\"} ", outcomes_[o].load(), "\n");
  }
  auto one = [&](const char* name, const char* help, const char* type, uint64_t v) {
    absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, "{",
                    node, "} ", v, "\n");
  };
  one("warden_forwarder_active_flows", "Flows the forwarder is relaying.", "gauge",
      impl_->active.load());
  one("warden_forwarder_bytes_up_total", "Bytes from pods to gateways.", "counter",
      impl_->bytes_up.load());
  one("warden_forwarder_bytes_down_total", "Bytes from gateways to pods.", "counter",
      impl_->bytes_down.load());
  one("warden_forwarder_full_handshakes_total",
      "TLS handshakes with a gateway that resumed no session.", "counter",
      impl_->full_handshakes.load());
  std::lock_guard<std::mutex> l(impl_->mu);
  absl::StrAppend(out,
                  "# HELP warden_forwarder_gateway_connects_total TLS connections to each "
                  "gateway, by result.\n# TYPE warden_forwarder_gateway_connects_total counter\n");
  for (const auto& [pod, st] : impl_->stats) {
    absl::StrAppend(out, "warden_forwarder_gateway_connects_total{", node, ",gateway=\"", pod,
                    "\",result=\"ok\"} ", st.connects, "\n");
    absl::StrAppend(out, "warden_forwarder_gateway_connects_total{", node, ",gateway=\"", pod,
                    "\",result=\"failed\"} ", st.connect_failures, "\n");
    absl::StrAppend(out, "warden_forwarder_gateway_connects_total{", node, ",gateway=\"", pod,
                    "\",result=\"resumed\"} ", st.resumed, "\n");
  }
}

}  // namespace warden::forwarder
