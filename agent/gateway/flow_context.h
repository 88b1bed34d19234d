// What the gateway knows about one admitted flow once its source is checked: the downstream
// stream and the bytes read ahead, the attested source, and the shared services; and the two
// ways a flow is carried on.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

#include "agent/egress/request.h"
#include "agent/gateway/flow_session.h"
#include "agent/gateway/stream.h"
#include "agent/gateway/task.h"
#include "agent/nodestate/flow_header.h"

namespace warden::gateway {

struct FlowContext {
  TlsStream& down;
  FlowBuffer& buf;  // bytes read from `down` not consumed yet
  nodestate::Flow flow;
  egress::SourceIdentity source;
  std::string node;  // the node whose certificate carried the flow
  std::string app;   // the source pod's app label, for metrics
  std::string downstream_remote, downstream_local;
  UpstreamPool* pool;
  const Services* g;
  // The same for every request of the flow: made once.
  std::string principal = egress::PrincipalOf(source, g->trust_domain);
  std::string original_destination =
      absl::StrCat(flow.original_ip.ToString(), ":", flow.original_port);

  // An access-log entry with the source and the flow filled in.
  AccessEntry Entry() const;
  // Logs `e` and counts it in the metrics.
  void Finish(AccessEntry& e) const;
};

// HTTP/1.1 requests, one after the other, each authorized on its own (http_proxy.cc).
Task<void> ProxyHttp(FlowContext& c);
// A TLS connection authorized by its ClientHello's server name and passed through (passthrough.cc).
Task<void> PassThrough(FlowContext& c);

// The upstream_host of a connection for the log, and the access-log fields of a verdict.
void NoteVerdict(const egress::GatewayVerdict& v, AccessEntry* e);

}  // namespace warden::gateway
