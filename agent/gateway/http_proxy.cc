// The HTTP/1.1 half of a flow: requests read one by one (pipelined ones wait in the buffer and
// are served in order), each decided on its own with the state in force (REGISTRY_ONLY, then
// AuthorizationPolicy), then sent upstream over a pooled connection with TLS originated as the
// DestinationRule says; bodies stream both ways (chunked or sized) without being held whole.
#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <random>

#include <boost/beast/http.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/egress/registry.h"
#include "agent/gateway/flow_context.h"
#include "agent/gateway/http_io.h"
#include "agent/gateway/http_request.h"

namespace warden::gateway {
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr size_t kChunk = 16384;
// Bodies stream through, never held: no limit. (Not boost::none: Beast 1.74 compares a
// Content-Length with an empty optional as greater, and refuses every sized body.)
constexpr uint64_t kUnlimitedBody = std::numeric_limits<uint64_t>::max();

int64_t Ms(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
}

std::string RequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  // A version-4 UUID: 8-4-4-4-12 hex digits.
  uint64_t a = rng(), b = rng();
  a = (a & ~0xf000ULL) | 0x4000ULL;                         // version 4
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  int pos = 0;
  auto put = [&](uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; --i) out[pos + i] = kHex[(v >> (4 * (digits - 1 - i))) & 0xf];
    pos += digits + 1;
  };
  put(a >> 32, 8);
  put((a >> 16) & 0xffff, 4);
  put(a & 0xffff, 4);
  put(b >> 48, 4);
  put(b & 0xffffffffffffULL, 12);
  return out;
}

// A response the gateway makes itself (a refusal or an upstream failure).
Task<error_code> Answer(FlowContext& c, int status, const std::string& body, bool keep_alive,
                        const std::string& request_id) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::server, "warden-gateway");
  res.set(http::field::content_type, "text/plain");
  if (!request_id.empty()) res.set("x-request-id", request_id);
  res.body() = body;
  res.prepare_payload();
  res.keep_alive(keep_alive);
  http::serializer<false, http::string_body> sr{res};
  co_return co_await WriteSome(c.down, sr, In(c.g->limits.body_idle));
}

// Streams the message `p` is reading from `in` (its header read) to `out`: the header with the
// first piece of the body. `bytes` counts the body's bytes.
// A piece of a body on its way through (recycled memory).
class Chunk {
 public:
  explicit Chunk(size_t n) : n_(n) {}
  ~Chunk() {
    if (p_) Recycler::Free(p_, n_);
  }
  char* get() {
    if (!p_) p_ = static_cast<char*>(Recycler::Allocate(n_));
    return p_;
  }

 private:
  size_t n_;
  char* p_ = nullptr;
};

template <bool isRequest>
Task<error_code> Relay(Stream& in, FlowBuffer& buf,
                       http::parser<isRequest, http::buffer_body, RecyclingAllocator<char>>& p,
                       Stream& out, std::chrono::milliseconds idle, uint64_t* bytes) {
  error_code ec;
  http::serializer<isRequest, http::buffer_body, Fields> sr{p.get()};
  // As large as the body when its length is known (a small answer needs no 16 KB).
  const size_t size =
      std::max<size_t>(1, std::min<uint64_t>(kChunk, p.content_length().value_or(kChunk)));
  Chunk chunk(size);
  auto& body = p.get().body();
  // The header goes out with the body's first bytes (one record, one send: the body of a small
  // message is usually read with its header), or alone when the message has no body.
  while (!sr.is_done()) {
    if (!p.is_done()) {
      body.data = chunk.get();
      body.size = size;
      ec = co_await ReadBodySome(in, buf, p, In(idle));
      if (ec) co_return ec;
      const size_t n = size - body.size;
      body.data = chunk.get();
      body.size = n;
      body.more = !p.is_done();
      *bytes += n;
      if (n == 0) {
        if (!p.is_done()) continue;  // framing only (a chunk header): nothing to send
        // The end of a chunked body alone: no empty chunk (that would be a last-chunk of its
        // own, and the real one after it the start of a bogus next request).
        body.data = nullptr;
        body.more = false;
      }
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    ec = co_await WriteSome(out, sr, In(idle));
    if (ec) co_return ec;
  }
  co_return ec;
}

// The status and details of a parse failure of the pod's request.
std::pair<int, std::string> RequestError(const error_code& ec) {
  if (ec == http::error::header_limit) return {431, "request_headers_too_large"};
  if (ec == http::error::body_limit) return {413, "request_payload_too_large"};
  return {400, absl::StrCat("http1.codec_error{", ec.message(), "}")};
}

struct Exchange {
  FlowContext& c;
  AccessEntry e;
  Clock::time_point start = Clock::now();
};

// How an I/O error reads in the log.
std::string Why(const error_code& ec, const Stream& s) {
  if (IsTimeout(ec)) return "timed out";
  if (IsEnd(ec)) return "end of stream";
  std::string tls = s.TlsDetails();
  return tls.empty() ? ec.message() : tls;
}

// How forwarding one request ended.
struct Forwarded {
  bool keep_alive = false;         // the pod's connection may carry another request
  bool upstream_reusable = false;  // the upstream connection may go back to the pool
  // It failed before any of the response reached the pod (nothing was answered yet): the
  // caller answers, or retries on a new connection.
  bool failed_before_response = false;
  bool timed_out = false;
};

// Sends the request upstream and streams the response back.
Task<Forwarded> Forward(Exchange& x, Stream& up, RequestParser& rp, const ParsedRequest& parsed) {
  FlowContext& c = x.c;
  const ProxyLimits& lim = c.g->limits;
  Forwarded f;
  error_code ec;
  const bool request_keep_alive = rp.get().keep_alive();
  const bool head = rp.get().method() == http::verb::head;
  PrepareUpstream(parsed, &rp.get().base());
  if (rp.get().find("x-request-id") == rp.get().end()) rp.get().set("x-request-id", x.e.request_id);
  ec = co_await Relay<true>(c.down, c.buf, rp, up, lim.body_idle, &x.e.bytes_received);
  if (ec) {
    f.failed_before_response = true;
    f.timed_out = IsTimeout(ec);
    x.e.response_flags = f.timed_out ? "SI" : "UC";
    x.e.upstream_transport_failure_reason = absl::StrCat("sending the request: ", Why(ec, up));
    co_return f;
  }
  const auto sent = Clock::now();
  FlowBuffer ubuf;
  std::optional<ResponseParser> resp;
  // 1xx answers other than 101 are interim: the final response follows.
  while (true) {
    resp.emplace();
    resp->header_limit(static_cast<uint32_t>(lim.header_bytes));
    resp->body_limit(kUnlimitedBody);
    if (head) resp->skip(true);
    ec = co_await ReadHeader(up, ubuf, *resp, In(lim.upstream_response));
    if (ec) break;
    const unsigned s = resp->get().result_int();
    if (s < 100 || s >= 200 || s == 101) break;
  }
  if (ec) {
    f.failed_before_response = true;
    f.timed_out = IsTimeout(ec);
    x.e.response_flags = f.timed_out ? "UT" : "UC";
    x.e.upstream_transport_failure_reason = absl::StrCat(
        "reading the response: ", ec == http::error::end_of_stream ? "end of stream" : Why(ec, up));
    co_return f;
  }
  x.e.upstream_service_time_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - sent).count();
  auto& res = resp->get();
  x.e.response_code = static_cast<int>(res.result_int());
  x.e.response_code_details = "via_upstream";
  const bool upstream_keep_alive = res.keep_alive() && !res.need_eof();
  // 101 (a protocol switch) is not followed: the gateway authorizes HTTP requests one by one.
  // A draining gateway closes the connection after this answer (Connection: close).
  f.keep_alive = request_keep_alive && !res.need_eof() && res.result_int() != 101 &&
                 !c.down.socket().ring()->stopping();
  PrepareDownstream(&res.base());
  res.keep_alive(f.keep_alive);
  ec = co_await Relay<false>(up, ubuf, *resp, c.down, lim.body_idle, &x.e.bytes_sent);
  if (ec) {
    x.e.response_flags = IsTimeout(ec) ? "SI" : "UR";
    x.e.connection_termination_details = absl::StrCat("response body: ", Why(ec, up));
    f.keep_alive = false;
    co_return f;
  }
  f.upstream_reusable = upstream_keep_alive && resp->is_done() && ubuf.size() == 0;
  co_return f;
}

// One request: read, decided, answered or forwarded. False: the connection is done.
Task<bool> OneRequest(FlowContext& c) {
  const ProxyLimits& lim = c.g->limits;
  RequestParser rp;
  rp.header_limit(static_cast<uint32_t>(lim.header_bytes));
  rp.body_limit(kUnlimitedBody);  // streamed, never held whole
  Ring* ring = c.down.socket().ring();
  if (c.buf.size() == 0) {
    // A draining gateway takes no more requests on a connection: the pod's next goes elsewhere.
    if (ring->stopping()) co_return false;
    // Waiting for the next request holds no buffer (thousands of idle keep-alive connections).
    c.buf.clear();
    c.buf.shrink_to_fit();
    // Idle: the pod is done, or idle too long, or the gateway drains.
    if (co_await c.down.WaitReadable(In(lim.idle), /*idle=*/true)) co_return false;
  }
  error_code ec =
      co_await ReadHeader(c.down, c.buf, rp, In(c.buf.size() ? lim.request_headers : lim.idle));
  if (ec == http::error::end_of_stream || IsEnd(ec) || (IsTimeout(ec) && c.buf.size() == 0)) {
    co_return false;  // the pod is done (or idle too long between requests)
  }
  Exchange x{c, c.Entry()};
  x.e.protocol = "HTTP/1.1";
  if (ec) {
    auto [status, details] = IsTimeout(ec)
                                 ? std::pair<int, std::string>{408, "request_header_timeout"}
                                 : RequestError(ec);
    x.e.response_code = status;
    x.e.response_flags = "DPE";
    x.e.response_code_details = details;
    x.e.verdict = "bad_request";
    x.e.duration_ms = Ms(x.start);
    co_await Answer(c, status, "", false, "");
    c.Finish(x.e);
    co_return false;
  }
  auto& req = rp.get();
  x.e.protocol = req.version() == 10 ? "HTTP/1.0" : "HTTP/1.1";
  x.e.method = std::string(req.method_string());
  x.e.user_agent = std::string(req[http::field::user_agent]);
  x.e.x_forwarded_for = std::string(req["x-forwarded-for"]);
  x.e.request_id =
      req.find("x-request-id") != req.end() ? std::string(req["x-request-id"]) : RequestId();
  if (static_cast<size_t>(std::distance(req.begin(), req.end())) > lim.header_count) {
    x.e.response_code = 431;
    x.e.response_flags = "DPE";
    x.e.response_code_details = "too_many_headers";
    x.e.verdict = "bad_request";
    co_await Answer(c, 431, "", false, x.e.request_id);
    c.Finish(x.e);
    co_return false;
  }
  absl::StatusOr<ParsedRequest> parsed = ParseRequest(req.base());
  if (!parsed.ok()) {
    x.e.path = std::string(req.target());
    x.e.authority = std::string(req[http::field::host]);
    x.e.response_code = 400;
    x.e.response_flags = "DPE";
    x.e.response_code_details = std::string(parsed.status().message());
    x.e.verdict = "bad_request";
    co_await Answer(c, 400, absl::StrCat("bad request: ", parsed.status().message()), false,
                    x.e.request_id);
    x.e.duration_ms = Ms(x.start);
    c.Finish(x.e);
    co_return false;
  }
  x.e.path = parsed->raw_path;
  x.e.authority = parsed->request.authority;
  egress::Request& r = parsed->request;
  r.source = c.source;
  r.destination_ip = c.flow.original_ip;
  r.port = c.flow.original_port;

  std::shared_ptr<const CompiledGateway> state = c.g->state->Get();
  egress::GatewayVerdict v = state->config.Decide(r);
  NoteVerdict(v, &x.e);
  // A refused request whose body is still coming ends the connection: its bytes are not read.
  const bool body_pending = !rp.is_done();
  const bool expects_continue =
      absl::EqualsIgnoreCase(std::string(req[http::field::expect]), "100-continue");
  if (v.verdict != egress::Verdict::kAllow) {
    std::string body;
    if (v.verdict == egress::Verdict::kDeny) {
      body = "RBAC: access denied";
      x.e.response_code_details = absl::StrCat("rbac_access_denied_matched_policy[",
                                               x.e.policy.empty() ? "none" : x.e.policy, "]");
    } else if (v.verdict == egress::Verdict::kUnregistered) {
      x.e.response_flags = "NR";
      x.e.response_code_details = "route_not_found";
      x.e.upstream_cluster = "BlackHoleCluster";
    } else {
      x.e.response_flags = "DPE";
      x.e.response_code_details = v.reason;
    }
    x.e.response_code = v.status;
    const bool keep = req.keep_alive() && !body_pending;
    ec = co_await Answer(c, v.status, body, keep, x.e.request_id);
    x.e.duration_ms = Ms(x.start);
    c.Finish(x.e);
    co_return keep && !ec;
  }

  const std::string host = egress::ParseAuthority(r.authority)->host;
  absl::StatusOr<UpstreamTarget> target =
      TargetFor(v, host, c.flow.original_ip, /*http=*/true, c.flow.flow_id);
  state.reset();
  if (!target.ok()) {
    x.e.response_code = 502;
    x.e.response_flags = "UH";
    x.e.response_code_details = std::string(target.status().message());
    co_await Answer(c, 502, "no healthy upstream", false, x.e.request_id);
    x.e.duration_ms = Ms(x.start);
    c.Finish(x.e);
    co_return false;
  }
  x.e.upstream_cluster = target->cluster;
  if (expects_continue && body_pending) {
    // Envoy's way: the proxy answers 100-continue itself and does not send Expect upstream.
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (co_await c.down.Write(kContinue, In(lim.body_idle))) co_return false;
  }
  // A pooled connection the server closed meanwhile fails before the response starts; a request
  // whose body has not been read yet is then retried once on a new connection.
  for (int attempt = 0;; ++attempt) {
    UpstreamFailure failure;
    bool reused = false;
    std::unique_ptr<UpstreamConn> conn = co_await c.pool->Connect(*target, &failure, &reused);
    if (!conn) {
      x.e.response_code = failure.flag == "UT" ? 504 : 502;
      x.e.response_flags = failure.flag;
      x.e.upstream_transport_failure_reason = failure.reason;
      x.e.response_code_details = "upstream_reset_before_response_started{connection_failure}";
      co_await Answer(c, *x.e.response_code,
                      "upstream connect error or disconnect/reset before headers", false,
                      x.e.request_id);
      x.e.duration_ms = Ms(x.start);
      c.Finish(x.e);
      co_return false;
    }
    x.e.upstream_host = conn->remote();
    x.e.upstream_local_address = conn->local();
    Forwarded f = co_await Forward(x, conn->stream(), rp, *parsed);
    if (f.failed_before_response) {
      // A pooled connection the server had closed: the request (without a body) goes again.
      if (reused && attempt == 0 && !body_pending && !f.timed_out) {
        x.e.response_flags = "-";
        x.e.upstream_transport_failure_reason.clear();
        continue;
      }
      x.e.response_code = f.timed_out ? 504 : 502;
      x.e.response_code_details =
          f.timed_out ? "upstream_response_timeout" : "upstream_reset_before_response_started";
      co_await Answer(c, *x.e.response_code,
                      f.timed_out ? "upstream request timeout"
                                  : "upstream connect error or disconnect/reset before headers",
                      false, x.e.request_id);
      x.e.duration_ms = Ms(x.start);
      c.Finish(x.e);
      co_return false;
    }
    if (f.upstream_reusable) c.pool->Put(std::move(conn));
    x.e.duration_ms = Ms(x.start);
    c.Finish(x.e);
    co_return f.keep_alive;
  }
}

}  // namespace

Task<void> ProxyHttp(FlowContext& c) {
  // (not `while (co_await ...)`: GCC 12 built that into code that crashed with SIGILL here)
  while (true) {
    const bool more = co_await OneRequest(c);
    if (!more) break;
  }
}

}  // namespace warden::gateway
