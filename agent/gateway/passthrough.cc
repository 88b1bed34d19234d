// The TLS half of a flow: the pod's ClientHello is read (never answered: the pod's TLS session
// is end to end with the server), the flow authorized by attested identity + server name, and
// the bytes passed through both ways on a connection of its own.
#include <utility>  // before Boost.Asio 1.74's awaitable.hpp, which uses std::exchange unincluded

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "agent/gateway/client_hello.h"
#include "agent/gateway/flow_context.h"

namespace warden::gateway {
namespace asio = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

namespace {

using Clock = std::chrono::steady_clock;

// A connection idle this long in both directions is closed (Envoy's TCP proxy default).
constexpr auto kTcpIdle = std::chrono::hours(1);

// Copies `from` to `to` until `from` ends; counts the bytes.
template <class From, class To>
asio::awaitable<error_code> Pipe(From& from, To& to, uint64_t* bytes) {
  char chunk[16384];
  error_code ec;
  while (true) {
    beast::get_lowest_layer(from).expires_after(kTcpIdle);
    size_t n = co_await from.async_read_some(asio::buffer(chunk),
                                             asio::redirect_error(asio::use_awaitable, ec));
    if (n > 0) {
      co_await asio::async_write(to, asio::buffer(chunk, n),
                                 asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return ec;
      *bytes += n;
    }
    if (ec) co_return ec;
  }
}

// Server to pod; when the server is done, so is the flow: the pod's side is cut too.
asio::awaitable<void> Downward(UpstreamConn& up, FlowContext& c, uint64_t* bytes, bool* finished,
                               asio::steady_timer* done) {
  co_await Pipe(up.plain(), c.down, bytes);
  *finished = true;
  error_code ec;
  beast::get_lowest_layer(c.down).socket().cancel(ec);
  done->cancel();
}

}  // namespace

asio::awaitable<void> PassThrough(FlowContext& c) {
  const auto start = Clock::now();
  AccessEntry e = c.Entry();
  e.protocol = "TLS";
  auto finish = [&](const std::string& details) {
    e.connection_termination_details = details;
    e.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    c.Finish(e);
  };
  error_code ec;
  ClientHello hello;
  while (true) {
    auto d = c.buf.cdata();
    hello = ParseClientHello(absl::string_view(static_cast<const char*>(d.data()), d.size()));
    if (hello.state != ClientHello::State::kNeedMore) break;
    beast::get_lowest_layer(c.down).expires_after(c.g->limits.handshake);
    size_t n = co_await c.down.async_read_some(c.buf.prepare(4096),
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      e.verdict = "bad_request";
      finish(absl::StrCat("warden_client_hello: connection ended before the ClientHello: ",
                          ec.message()));
      co_return;
    }
    c.buf.commit(n);
  }
  if (hello.state == ClientHello::State::kInvalid) {
    e.verdict = "bad_request";
    e.response_flags = "DPE";
    finish(absl::StrCat("warden_client_hello: ", hello.error));
    co_return;
  }
  if (hello.sni.empty()) {
    e.verdict = "unregistered";
    e.response_flags = "NR";
    finish("warden_no_sni: a TLS flow without a server name is not passed through");
    co_return;
  }
  e.requested_server_name = hello.sni;
  egress::Request r;
  r.http = false;
  r.sni = hello.sni;
  r.source = c.source;
  r.destination_ip = c.flow.original_ip;
  r.port = c.flow.original_port;
  std::shared_ptr<const CompiledGateway> state = c.g->state->Get();
  egress::GatewayVerdict v = state->config.Decide(r);
  NoteVerdict(v, &e);
  if (v.verdict != egress::Verdict::kAllow) {
    if (v.verdict == egress::Verdict::kDeny) {
      finish(absl::StrCat("rbac_access_denied_matched_policy[",
                          e.policy.empty() ? "none" : e.policy, "]"));
    } else {
      e.response_flags = "NR";
      finish(absl::StrCat("warden_unregistered: ", v.reason));
    }
    co_return;
  }
  absl::StatusOr<UpstreamTarget> target =
      TargetFor(v, hello.sni, c.flow.original_ip, /*http=*/false, c.flow.flow_id);
  state.reset();
  if (!target.ok()) {
    e.response_flags = "UH";
    finish(std::string(target.status().message()));
    co_return;
  }
  e.upstream_cluster = target->cluster;
  UpstreamFailure failure;
  std::unique_ptr<UpstreamConn> up = co_await c.pool->Dial(*target, &failure);
  if (!up) {
    e.response_flags = failure.flag;
    e.upstream_transport_failure_reason = failure.reason;
    finish("upstream connection failed");
    co_return;
  }
  e.upstream_host = up->remote();
  e.upstream_local_address = up->local();
  // The hello (and anything after it) goes first.
  size_t ahead = c.buf.size();
  co_await asio::async_write(up->plain(), c.buf.data(),
                             asio::redirect_error(asio::use_awaitable, ec));
  c.buf.consume(ahead);
  e.bytes_received = ahead;
  if (ec) {
    e.response_flags = "UC";
    finish(absl::StrCat("upstream: ", ec.message()));
    co_return;
  }
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer done(ex, Clock::time_point::max());
  bool down_finished = false;
  asio::co_spawn(ex, Downward(*up, c, &e.bytes_sent, &down_finished, &done), asio::detached);
  co_await Pipe(c.down, up->plain(), &e.bytes_received);
  // The pod is done sending: the server is told (half-close) and may still answer.
  up->plain().socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  if (!down_finished) co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  finish("");
}

}  // namespace warden::gateway
