// Beast's HTTP/1.1 parser and serializer over the gateway's streams: the parsing and framing
// rules are Beast's (smuggling checks, chunked coding, limits); the bytes come and go through
// the ring. A serialized piece is written as one TLS record and one send.
#pragma once

#include <string>

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/serializer.hpp>

#include "agent/gateway/stream.h"

namespace warden::gateway {

namespace http_io_detail {
constexpr size_t kReadSize = 16384;

// Feeds `buf` to `p`; reads more when it needs more. Done when `done(p)` or the body buffer is
// full (need_buffer) or some body was parsed.
template <bool isRequest, class Done>
Task<error_code> Parse(Stream& s, FlowBuffer& buf, boost::beast::http::basic_parser<isRequest>& p,
                       Deadline d, Done done) {
  namespace http = boost::beast::http;
  error_code ec;
  while (true) {
    if (buf.size() > 0) {
      const size_t used = p.put(buf.data(), ec);
      buf.consume(used);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec == http::error::need_buffer) {
        co_return error_code{};
      } else if (ec) {
        co_return ec;
      } else if (done(p, used)) {
        co_return error_code{};
      }
    } else if (done(p, 0)) {
      co_return error_code{};
    }
    auto space = buf.prepare(kReadSize);
    Io r = co_await s.ReadSome(static_cast<char*>(space.data()), space.size(), d);
    if (r.ec) {
      if (!IsEnd(r.ec)) co_return r.ec;
      if (!p.got_some()) co_return http::error::end_of_stream;
      p.put_eof(ec);
      if (ec) co_return ec;
      co_return p.is_done() ? error_code{} : error_code(http::error::partial_message);
    }
    buf.commit(r.n);
  }
}
}  // namespace http_io_detail

// Reads until `p` has the whole header; what follows stays in `buf` (a pipelined request too).
// end_of_stream when the peer ended before sending anything.
template <bool isRequest>
Task<error_code> ReadHeader(Stream& s, FlowBuffer& buf,
                            boost::beast::http::basic_parser<isRequest>& p, Deadline d) {
  return http_io_detail::Parse<isRequest>(s, buf, p, d,
                                          [](auto& q, size_t) { return q.is_header_done(); });
}

// Reads some of the body into the parser's buffer_body (or to the message's end).
template <bool isRequest>
Task<error_code> ReadBodySome(Stream& s, FlowBuffer& buf,
                              boost::beast::http::basic_parser<isRequest>& p, Deadline d) {
  return http_io_detail::Parse<isRequest>(
      s, buf, p, d, [](auto& q, size_t used) { return q.is_done() || used > 0; });
}

// Serializes what `sr` can give now (up to the end, or until the body's next piece is needed)
// and writes it as one piece.
template <class Serializer>
Task<error_code> WriteSome(Stream& s, Serializer& sr, Deadline d) {
  namespace http = boost::beast::http;
  // Safe to share: Stream::Write takes the bytes before it first suspends.
  thread_local std::string scratch;
  scratch.clear();
  error_code ec;
  while (!sr.is_done()) {
    size_t bytes = 0;
    sr.next(ec, [&](error_code&, const auto& buffers) {
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        scratch.append(static_cast<const char*>(b.data()), b.size());
        bytes += b.size();
      }
    });
    if (ec == http::error::need_buffer) {
      ec = {};
      break;
    }
    if (ec) co_return ec;
    sr.consume(bytes);
  }
  if (scratch.empty()) co_return error_code{};
  co_return co_await s.Write(scratch, d);
}

}  // namespace warden::gateway
