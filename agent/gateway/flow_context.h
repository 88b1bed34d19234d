// What the gateway knows about one admitted flow once its source is checked: the downstream
// stream and the bytes read ahead, the attested source, and the shared services; and the two
// ways a flow is carried on.
#pragma once

#include <string>
#include <utility>  // before Boost.Asio 1.74's awaitable.hpp, which uses std::exchange unincluded

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "agent/egress/request.h"
#include "agent/gateway/flow_session.h"
#include "agent/nodestate/flow_header.h"

namespace warden::gateway {

struct FlowContext {
  // Beast's ssl_stream: Asio's SSL stream behind a flat_stream, which joins a buffer sequence
  // (a response's status line, each header field, the body) into one SSL_write: one record and
  // one send, not one per field.
  using Down = boost::beast::ssl_stream<boost::beast::tcp_stream>;
  Down& down;
  boost::beast::flat_buffer& buf;  // bytes read from `down` not consumed yet
  nodestate::Flow flow;
  egress::SourceIdentity source;
  std::string node;  // the node whose certificate carried the flow
  std::string app;   // the source pod's app label, for metrics
  std::string downstream_remote, downstream_local;
  UpstreamPool* pool;
  const Services* g;

  // An access-log entry with the source and the flow filled in.
  AccessEntry Entry() const;
  // Logs `e` and counts it in the metrics.
  void Finish(AccessEntry& e) const;
};

// HTTP/1.1 requests, one after the other, each authorized on its own (http_proxy.cc).
boost::asio::awaitable<void> ProxyHttp(FlowContext& c);
// A TLS connection authorized by its ClientHello's server name and passed through (passthrough.cc).
boost::asio::awaitable<void> PassThrough(FlowContext& c);

// The upstream_host of a connection for the log, and the access-log fields of a verdict.
void NoteVerdict(const egress::GatewayVerdict& v, AccessEntry* e);

}  // namespace warden::gateway
