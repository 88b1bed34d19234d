// The TLS half of a flow: the pod's ClientHello is read (never answered: the pod's TLS session
// is end to end with the server), the flow authorized by attested identity + server name, and
// the bytes passed through both ways on a connection of its own.
#include <sys/socket.h>

#include <coroutine>

#include "absl/strings/str_cat.h"
#include "agent/gateway/client_hello.h"
#include "agent/gateway/flow_context.h"

namespace warden::gateway {
namespace {

// A connection idle this long in both directions is closed (Envoy's TCP proxy default).
constexpr auto kTcpIdle = std::chrono::hours(1);

// Copies `from` to `to` until `from` ends; counts the bytes.
Task<error_code> Pipe(Stream& from, Stream& to, uint64_t* bytes) {
  char chunk[16384];
  while (true) {
    Io r = co_await from.ReadSome(chunk, sizeof(chunk), In(kTcpIdle));
    if (r.ec) co_return r.ec;
    error_code ec = co_await to.Write(std::string_view(chunk, r.n), In(kTcpIdle));
    if (ec) co_return ec;
    *bytes += r.n;
  }
}

// The end of the server-to-pod direction, which the pod-to-server direction waits for.
struct Joined {
  Ring* ring;
  bool done = false;
  std::coroutine_handle<> waiter;
  void Set() {
    done = true;
    // Resumed from the loop, not from here: the waiter ends the flow and frees what this
    // direction still stands on.
    if (waiter) ring->Post([h = waiter] { h.resume(); });
  }
  bool await_ready() const noexcept { return done; }
  void await_suspend(std::coroutine_handle<> h) { waiter = h; }
  void await_resume() const noexcept {}
};

// Server to pod; when the server is done, so is the flow: the pod's side is cut too.
Task<void> Downward(UpstreamConn& up, FlowContext& c, uint64_t* bytes, Joined* joined) {
  Ring* ring = c.down.socket().ring();
  Ring::TaskCount counted(ring);
  co_await Pipe(up.stream(), c.down, bytes);
  // The other direction stops reading the pod: what it waits on ends now, and a read it has not
  // begun yet (it may be sending to the server) finds the end at once.
  ::shutdown(c.down.socket().fd(), SHUT_RD);
  ring->Cancel(c.down.socket().fd());
  joined->Set();
}

}  // namespace

Task<void> PassThrough(FlowContext& c) {
  const auto start = Clock::now();
  AccessEntry e = c.Entry();
  e.protocol = "TLS";
  auto finish = [&](const std::string& details) {
    e.connection_termination_details = details;
    e.duration_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    c.Finish(e);
  };
  ClientHello hello;
  while (true) {
    auto d = c.buf.cdata();
    hello = ParseClientHello(absl::string_view(static_cast<const char*>(d.data()), d.size()));
    if (hello.state != ClientHello::State::kNeedMore) break;
    auto space = c.buf.prepare(4096);
    Io r = co_await c.down.ReadSome(static_cast<char*>(space.data()), space.size(),
                                    In(c.g->limits.handshake));
    if (r.ec) {
      e.verdict = "bad_request";
      finish(absl::StrCat("warden_client_hello: connection ended before the ClientHello: ",
                          IsEnd(r.ec) ? "end of stream" : r.ec.message()));
      co_return;
    }
    c.buf.commit(r.n);
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
  const size_t ahead = c.buf.size();
  auto data = c.buf.cdata();
  error_code ec = co_await up->stream().Write(
      std::string_view(static_cast<const char*>(data.data()), data.size()), In(kTcpIdle));
  c.buf.consume(ahead);
  e.bytes_received = ahead;
  if (ec) {
    e.response_flags = "UC";
    finish(absl::StrCat("upstream: ", ec.message()));
    co_return;
  }
  Joined joined{c.down.socket().ring(), false, {}};
  Spawn(Downward(*up, c, &e.bytes_sent, &joined));
  co_await Pipe(c.down, up->stream(), &e.bytes_received);
  // The pod is done sending: the server is told (half-close) and may still answer.
  co_await up->stream().ShutdownSend(In(kTcpIdle));
  co_await joined;
  finish("");
}

}  // namespace warden::gateway
