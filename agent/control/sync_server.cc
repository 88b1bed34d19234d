#include "agent/control/sync_server.h"

#include <algorithm>
#include <semaphore>
#include <thread>

#include <google/protobuf/arena.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/nodestate/wire.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden::control {

void SyncStats::ObserveLatency(double ms) {
  size_t i = 0;
  while (i < sizeof(kBucketsMs) / sizeof(double) && ms > kBucketsMs[i]) ++i;
  ++latency_buckets[i];
  latency_sum_us += static_cast<uint64_t>(ms * 1000);
  ++latency_count;
}

namespace {

using Stream = grpc::ServerReaderWriter<v1::SyncResponse, v1::SyncRequest>;

// The node a client may subscribe to: a DNS name among its certificate's subject alternative
// names.
bool CertificateNames(const grpc::ServerContext& ctx, const std::string& node) {
  for (const auto& san : ctx.auth_context()->FindPropertyValues("x509_subject_alternative_name")) {
    if (std::string(san.data(), san.size()) == node) return true;
  }
  return false;
}

// One subscribed node's stream: acks arrive on a thread of their own (ReadAcks), pushes and
// heartbeats go out from the stream's thread (Push).
class Session {
 public:
  Session(ControlPlane* cp, SyncStats* stats, const common::Logger& log, std::string node,
          uint64_t have_version)
      : cp_(cp), stats_(stats), log_(log), node_(std::move(node)), acked_(have_version) {}

  void ReadAcks(Stream* stream) {
    v1::SyncRequest req;
    while (stream->Read(&req)) {
      if (!req.has_ack()) continue;
      std::lock_guard<std::mutex> l(mu_);
      if (req.ack().ok()) {
        ++stats_->acked;
        acked_ = req.ack().version();
        stats_->ObserveLatency(std::chrono::duration<double, std::milli>(
                                   std::chrono::steady_clock::now() - cp_->ChangedAt(node_, acked_))
                                   .count());
      } else {
        ++stats_->nacked;
        nacked_since_push_ = true;
        log_.Warning("node ", node_, " NACKed version ", req.ack().version(), ": ",
                     req.ack().error());
      }
    }
    done_ = true;
    cp_->WakeAll();
  }

  // Sends each new version (the difference from what the client holds, when remembered) and a
  // heartbeat when nothing changed for `heartbeat_ms`, until the stream or the server ends.
  // A full update waits for one of `full_slots`.
  void Push(Stream* stream, grpc::ServerContext* ctx, int heartbeat_ms,
            const std::atomic<bool>& stopping, std::counting_semaphore<>* full_slots) {
    uint64_t sent = 0;
    bool ok = true;
    while (ok && !done_ && !stopping && !ctx->IsCancelled()) {
      auto cur = cp_->Current(node_);
      if (cur->version != sent && !(sent == 0 && cur->version == Acked())) {
        auto base = BaseFor(sent);
        if (!base) full_slots->acquire();
        // On an arena: a full update is tens of thousands of small messages.
        google::protobuf::Arena arena;
        auto* resp = google::protobuf::Arena::CreateMessage<v1::SyncResponse>(&arena);
        if (base)
          nodestate::DeltaUpdate(*base, *cur, resp->mutable_update());
        else
          nodestate::FullUpdateForWire(*cur, resp->mutable_update());
        ok = stream->Write(*resp);
        if (!base) full_slots->release();
        sent = cur->version;
        ++stats_->pushed;
        continue;
      }
      if (sent == 0) sent = cur->version;  // the client already holds the current version
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(heartbeat_ms);
      auto next = cp_->WaitChange(node_, sent, deadline);
      if (next->version == sent && !done_ && !stopping) ok = stream->Write(Heartbeat());
    }
  }

 private:
  uint64_t Acked() {
    std::lock_guard<std::mutex> l(mu_);
    return acked_;
  }
  // What the client holds: after a NACK what it last ACKed, else what was sent last.
  std::shared_ptr<const NodeState> BaseFor(uint64_t sent) {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t base = nacked_since_push_ ? acked_ : (sent ? sent : acked_);
    nacked_since_push_ = false;
    return base ? cp_->Version(node_, base) : nullptr;
  }
  static v1::SyncResponse Heartbeat() {
    v1::SyncResponse hb;
    hb.mutable_heartbeat()->set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::system_clock::now().time_since_epoch())
                                            .count());
    return hb;
  }

  ControlPlane* cp_;
  SyncStats* stats_;
  const common::Logger& log_;
  const std::string node_;
  std::mutex mu_;
  uint64_t acked_;
  bool nacked_since_push_ = false;
  std::atomic<bool> done_{false};
};

}  // namespace

class SyncServer::Service final : public v1::Sync::Service {
 public:
  Service(ControlPlane* cp, SyncStats* stats, int heartbeat_ms)
      : cp_(cp), stats_(stats), heartbeat_ms_(heartbeat_ms) {}
  std::atomic<bool> stopping{false};

  grpc::Status Stream(grpc::ServerContext* ctx, ::warden::control::Stream* stream) override {
    v1::SyncRequest first;
    if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::CANCELLED, "no subscribe");
    if (!first.has_subscribe() || first.subscribe().node().empty()) {
      ++stats_->refused;
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "the first message must be a Subscribe naming the node");
    }
    const std::string node = first.subscribe().node();
    if (!CertificateNames(*ctx, node)) {
      ++stats_->refused;
      log_.Warning("refused ", ctx->peer(), ": its certificate does not name node ", node);
      return grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("this certificate may not subscribe to node \"", node, "\""));
    }
    ++stats_->connected;
    Session session(cp_, stats_, log_, node, first.subscribe().have_version());
    std::thread reader([&] { session.ReadAcks(stream); });
    session.Push(stream, ctx, heartbeat_ms_, stopping, &full_slots_);
    ctx->TryCancel();
    reader.join();
    --stats_->connected;
    return grpc::Status::OK;
  }

 private:
  ControlPlane* cp_;
  SyncStats* stats_;
  int heartbeat_ms_;
  common::Logger log_{"warden control"};
  // Full updates being built and written at once, across streams. Each holds its node's whole
  // state encoded (about 1 MB at 5,000 nodes) until written: when a thousand nodes subscribe
  // together (a control plane's start) they would otherwise all be held at once, 1.8 GB at
  // 1,000 nodes. The CPUs are busy either way, so this costs the last node nothing.
  std::counting_semaphore<> full_slots_{
      static_cast<std::ptrdiff_t>(std::max(2u, std::thread::hardware_concurrency()))};
};

absl::StatusOr<std::unique_ptr<SyncServer>> SyncServer::Start(ControlPlane* cp,
                                                              const std::string& address,
                                                              const TlsFiles& tls,
                                                              int heartbeat_ms) {
  auto cert = common::ReadFile(tls.cert);
  if (!cert.ok())
    return absl::InvalidArgumentError(absl::StrCat("--tls-cert: ", cert.status().message()));
  auto key = common::ReadFile(tls.key);
  if (!key.ok())
    return absl::InvalidArgumentError(absl::StrCat("--tls-key: ", key.status().message()));
  auto ca = common::ReadFile(tls.ca);
  if (!ca.ok())
    return absl::InvalidArgumentError(absl::StrCat("--client-ca: ", ca.status().message()));
  grpc::SslServerCredentialsOptions o(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  o.pem_root_certs = *ca;
  o.pem_key_cert_pairs.push_back({*key, *cert});
  std::unique_ptr<SyncServer> s(new SyncServer());
  s->cp_ = cp;
  s->stats_ = std::make_unique<SyncStats>();
  s->service_ = std::make_unique<Service>(cp, s->stats_.get(), heartbeat_ms);
  grpc::ServerBuilder b;
  b.AddListeningPort(address, grpc::SslServerCredentials(o), &s->port_);
  b.RegisterService(s->service_.get());
  s->server_ = b.BuildAndStart();
  if (!s->server_ || s->port_ == 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  return s;
}

SyncServer::~SyncServer() {
  if (service_) service_->stopping = true;
  if (cp_) cp_->WakeAll();
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

std::string SyncServer::RenderMetrics() const {
  std::string out;
  auto line = [&](const char* name, const char* type, const char* help, auto v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                    v, "\n");
  };
  line("warden_control_connected_clients", "gauge", "Sync streams open.", stats_->connected.load());
  line("warden_control_versions_pushed_total", "counter", "Updates sent.", stats_->pushed.load());
  line("warden_control_versions_acked_total", "counter", "Updates ACKed.", stats_->acked.load());
  line("warden_control_versions_nacked_total", "counter", "Updates NACKed.", stats_->nacked.load());
  line("warden_control_refused_total", "counter", "Subscriptions refused (certificate, protocol).",
       stats_->refused.load());
  line("warden_control_manifest_errors", "gauge", "Invalid manifest objects in the last load.",
       cp_->manifest_errors());
  line("warden_control_compile_errors_total", "counter",
       "Reloads whose compile failed (every node's state kept).", cp_->compile_errors());
  line("warden_control_reloads_total", "counter", "Manifest reloads.", cp_->reloads());
  absl::StrAppend(&out,
                  "# HELP warden_control_node_version Current version of each node's state.\n",
                  "# TYPE warden_control_node_version gauge\n");
  for (const auto& [n, v] : cp_->CurrentVersions()) {
    absl::StrAppend(&out, "warden_control_node_version{node=\"", n, "\"} ", v, "\n");
  }
  absl::StrAppend(&out,
                  "# HELP warden_control_push_latency_ms From a state change to the node's ACK.\n",
                  "# TYPE warden_control_push_latency_ms histogram\n");
  uint64_t cum = 0;
  size_t n = sizeof(SyncStats::kBucketsMs) / sizeof(double);
  for (size_t i = 0; i <= n; ++i) {
    cum += stats_->latency_buckets[i].load();
    absl::StrAppend(&out, "warden_control_push_latency_ms_bucket{le=\"",
                    i < n ? absl::StrCat(SyncStats::kBucketsMs[i]) : std::string("+Inf"), "\"} ",
                    cum, "\n");
  }
  absl::StrAppend(&out, "warden_control_push_latency_ms_sum ",
                  stats_->latency_sum_us.load() / 1000.0, "\n",
                  "warden_control_push_latency_ms_count ", stats_->latency_count.load(), "\n");
  return out;
}

}  // namespace warden::control
