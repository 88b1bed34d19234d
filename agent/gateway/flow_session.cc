#include "agent/gateway/flow_session.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/common/openssl_errors.h"
#include "agent/gateway/flow_context.h"
#include "agent/gateway/tls.h"

namespace warden::gateway {

AccessEntry FlowContext::Entry() const {
  AccessEntry e;
  e.start_time = absl::Now();
  e.source_node = node;
  e.source_namespace = source.ns;
  e.source_pod = source.pod;
  e.source_service_account = source.service_account;
  e.source_principal = principal;
  e.original_destination = original_destination;
  e.flow_id = flow.flow_id;
  e.downstream_remote_address = downstream_remote;
  e.downstream_local_address = downstream_local;
  return e;
}

void FlowContext::Finish(AccessEntry& e) const {
  g->log->Write(e);
  g->metrics->Observe(e, app);
}

void NoteVerdict(const egress::GatewayVerdict& v, AccessEntry* e) {
  e->verdict = egress::VerdictName(v.verdict);
  if (v.registration && v.registration->entry) e->service_namespace = v.registration->entry->ns;
  const auto& by = v.authz.decided_by;
  if (by && by->policy) {
    e->policy = absl::StrCat(by->policy->ns, "/", by->policy->name);
    e->rule = absl::StrCat(by->rule);
  }
}

namespace {

// A flow refused before it had a source: logged with what is known, counted by reason.
void Refuse(const Services* g, const std::string& reason, const std::string& details,
            const std::string& remote, const std::string& node, const nodestate::Flow* flow) {
  AccessEntry e;
  e.start_time = absl::Now();
  e.protocol = "TCP";
  e.response_flags = "UAEX";
  e.connection_termination_details = absl::StrCat("warden_", reason, ": ", details);
  e.downstream_remote_address = remote;
  e.source_node = node;
  e.verdict = "refused";
  if (flow) {
    e.source_namespace = flow->ns;
    e.source_pod = absl::StrCat(flow->ns, "/", flow->pod);
    e.original_destination = absl::StrCat(flow->original_ip.ToString(), ":", flow->original_port);
    e.flow_id = flow->flow_id;
  }
  g->log->Write(e);
  g->metrics->Refused(reason);
}

struct OpenCount {
  Metrics* m;
  explicit OpenCount(Metrics* m) : m(m) { m->ConnectionOpened(); }
  ~OpenCount() { m->ConnectionClosed(); }
};

Task<void> Serve(Ring* ring, int fd, UpstreamPool* pool, const Services* g) {
  OpenCount open(g->metrics);
  Ring::TaskCount counted(ring);
  auto sock = std::make_unique<Socket>(ring, fd);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const std::string remote = sock->Remote();
  const std::string local = sock->Local();
  // The newest certificate for this handshake; the SSL keeps its context whatever comes after.
  const std::shared_ptr<boost::asio::ssl::context> tls = g->listener_tls->Current();
  SSL* ssl = SSL_new(tls->native_handle());
  if (!ssl) {
    Refuse(g, "tls_handshake", common::OpenSslErrors(), remote, "", nullptr);
    co_return;
  }
  TlsStream down(std::move(sock), ssl, /*server=*/true);
  error_code ec = co_await down.Handshake(In(g->limits.handshake));
  if (ec) {
    std::string why = down.TlsDetails();
    Refuse(g, "tls_handshake", why.empty() ? ec.message() : why, remote, "", nullptr);
    co_return;
  }
  const std::vector<std::string> names = PeerNodeNames(down.ssl());
  const std::string node_names = absl::StrJoin(names, ",");

  // The flow header: never more than its own bytes are taken; what follows stays in `buf`.
  FlowBuffer buf;
  std::optional<nodestate::DecodedFlow> header;
  const Deadline header_by = In(g->limits.request_headers);
  while (!header) {
    auto data = buf.cdata();
    absl::StatusOr<std::optional<nodestate::DecodedFlow>> d = nodestate::DecodeFlowHeader(
        absl::string_view(static_cast<const char*>(data.data()), data.size()));
    if (!d.ok()) {
      Refuse(g, "flow_header", std::string(d.status().message()), remote, node_names, nullptr);
      co_return;
    }
    if (*d) {
      header = std::move(*d);
      break;
    }
    auto space = buf.prepare(512);
    Io r = co_await down.ReadSome(static_cast<char*>(space.data()), space.size(), header_by);
    if (r.ec) {
      Refuse(g, "flow_header",
             absl::StrCat("connection ended before the flow header: ",
                          IsEnd(r.ec) ? "end of stream" : r.ec.message()),
             remote, node_names, nullptr);
      co_return;
    }
    buf.commit(r.n);
  }
  buf.consume(header->consumed);
  const nodestate::Flow& flow = header->flow;

  std::shared_ptr<const CompiledGateway> state = g->state->Get();
  if (!state) {
    Refuse(g, "no_state", "no state from the control plane yet", remote, node_names, &flow);
    co_return;
  }
  // The certificate names the node; the pod must run there (a node speaks for its own pods).
  const std::string pod = absl::StrCat(flow.ns, "/", flow.pod);
  std::optional<egress::SourceIdentity> source;
  std::string node, why;
  for (const std::string& n : names) {
    absl::StatusOr<egress::SourceIdentity> id = state->config.PodOnNode(n, pod);
    if (id.ok()) {
      source = *std::move(id);
      node = n;
      break;
    }
    why = std::string(id.status().message());
  }
  if (!source) {
    Refuse(g, "pod_not_on_node",
           names.empty() ? "the certificate names no node (no DNS subjectAltName)" : why, remote,
           node_names, &flow);
    co_return;
  }
  std::string app;
  if (auto it = state->state.objects.pods.find(pod); it != state->state.objects.pods.end()) {
    if (auto l = it->second.labels.find("app"); l != it->second.labels.end()) app = l->second;
  }
  state.reset();  // each request takes the state in force when it is decided

  FlowContext c{down, buf, flow, *source, node, app, remote, local, pool, g};
  // What the pod sends first tells TLS (a handshake record) from HTTP.
  if (buf.size() == 0) {
    buf.shrink_to_fit();  // nothing held while the pod has not sent anything
    if (co_await down.WaitReadable(In(g->limits.request_headers), /*idle=*/true)) co_return;
    auto space = buf.prepare(4096);
    Io r = co_await down.ReadSome(static_cast<char*>(space.data()), space.size(),
                                  In(g->limits.request_headers));
    if (r.ec) co_return;  // the pod closed without sending anything
    buf.commit(r.n);
  }
  const auto first = static_cast<const unsigned char*>(buf.cdata().data())[0];
  if (first == 0x16) {
    co_await PassThrough(c);
  } else {
    co_await ProxyHttp(c);
  }
  co_await down.ShutdownSend(In(std::chrono::seconds(5)));
}

}  // namespace

Task<void> ServeFlow(Ring* ring, int fd, UpstreamPool* pool, const Services* g) {
  try {
    co_await Serve(ring, fd, pool, g);
  } catch (const std::exception& e) {
    // Nothing here throws by design (every operation returns its error); a bug must not take
    // the other flows down with it.
    Refuse(g, "internal", e.what(), "", "", nullptr);
  }
}

}  // namespace warden::gateway
