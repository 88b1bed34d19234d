#include "agent/control/sync_server.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <google/protobuf/arena.h>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/control/server_tls.h"
#include "agent/nodestate/node_identity.h"
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

// Whether the client's certificate speaks for `node` (nodestate/node_identity.h: a DNS name among
// its subject alternative names, or the kubelet's own certificate of that node).
bool CertificateNames(const grpc::CallbackServerContext& ctx, const std::string& node) {
  for (const auto& pem : ctx.auth_context()->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
    for (const std::string& name :
         nodestate::NodeNamesOfPem(std::string_view(pem.data(), pem.size())))
      if (name == node) return true;
  }
  return false;
}

v1::SyncResponse Heartbeat() {
  v1::SyncResponse hb;
  hb.mutable_heartbeat()->set_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  return hb;
}

}  // namespace

// The streams of every subscribed node, without a thread per stream (gRPC's callback API): a
// stream is a reactor that reads (the Subscribe, then ACKs) and writes one message at a time.
// One dispatcher thread wakes on every change of the control plane's states, and on a short
// tick for heartbeats, and has each stream send what is due; deltas are built there (they are
// small), full updates by one builder thread per CPU, each waiting for its write to finish: a
// full update holds a node's whole state encoded (about 1 MB at 5,000 nodes), and when every
// node subscribes at once (the control plane's start) they would otherwise all be held at once.
class SyncServer::Service final : public v1::Sync::CallbackService {
 public:
  class Session;

  Service(ControlPlane* cp, SyncStats* stats, int heartbeat_ms)
      : cp_(cp), stats_(stats), heartbeat_(std::chrono::milliseconds(heartbeat_ms)) {
    dispatcher_ = std::thread([this] { Dispatch(); });
    int builders = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
    for (int i = 0; i < builders; ++i) builders_.emplace_back([this] { BuildFulls(); });
  }
  ~Service() { Stop(); }

  // Ends the threads, then every stream.
  void Stop();

  grpc::ServerBidiReactor<v1::SyncRequest, v1::SyncResponse>* Stream(
      grpc::CallbackServerContext* ctx) override;

  void Remove(const Session* s);
  void QueueFull(std::shared_ptr<Session> s);

  ControlPlane* cp() const { return cp_; }
  bool stopping() const { return stopping_; }
  SyncStats* stats() const { return stats_; }
  const common::Logger& log() const { return log_; }
  std::chrono::milliseconds heartbeat() const { return heartbeat_; }

 private:
  void Dispatch();
  void BuildFulls();

  ControlPlane* cp_;
  SyncStats* stats_;
  const std::chrono::milliseconds heartbeat_;
  common::Logger log_{"warden control"};
  std::mutex mu_;
  std::atomic<bool> stopping_{false};  // set under mu_, for the waits on queue_cv_
  // Every stream from its start to OnDone (gRPC only holds the pointer).
  std::map<const Session*, std::shared_ptr<Session>> sessions_;
  std::condition_variable queue_cv_;
  std::deque<std::shared_ptr<Session>> fulls_;  // waiting for a builder
  std::thread dispatcher_;
  std::vector<std::thread> builders_;
};

class SyncServer::Service::Session final
    : public grpc::ServerBidiReactor<v1::SyncRequest, v1::SyncResponse>,
      public std::enable_shared_from_this<Session> {
 public:
  Session(Service* svc, grpc::CallbackServerContext* ctx) : svc_(svc), ctx_(ctx) {}
  void Begin() { StartRead(&req_); }

  void OnReadDone(bool ok) override {
    if (!ok) return FinishOnce(grpc::Status::OK);  // the client went away
    if (!subscribed_) return Subscribe();
    if (req_.has_ack()) TakeAck(req_.ack());
    StartRead(&req_);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    bool poke = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      writing_ = false;
      arena_.reset();
      written_cv_.notify_all();
      if (!ok) finishing_ = true;  // the stream is broken: nothing more will be written
      if (finishing_ && !finished_) {
        finished_ = true;
        finish = ok ? pending_ : grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
      }
      poke = !finishing_;
    }
    // gRPC is called without the lock held: a reaction may run on the calling thread.
    if (finish) return Finish(*finish);
    if (poke) Poke(false);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      done_ = true;
      written_cv_.notify_all();
    }
    if (subscribed_) --svc_->stats()->connected;
    svc_->Remove(this);  // may be the last reference
  }

  // Sends what is due: the node's new version (`changed`: some state changed), or a heartbeat
  // when nothing was written for the heartbeat period.
  void Poke(bool changed) {
    if (const v1::SyncResponse* m = Due(changed)) StartWrite(m);
  }

  // On a builder thread: the node's whole state, written; returns once the write is done (or
  // the stream is).
  void SendFull() {
    auto arena = std::make_unique<google::protobuf::Arena>();
    auto* resp = google::protobuf::Arena::CreateMessage<v1::SyncResponse>(arena.get());
    uint64_t version = 0;
    if (gateway_) {  // a gateway's state, always whole
      auto cur = svc_->cp()->CurrentGateway();
      nodestate::GatewayUpdateOf(*cur, resp->mutable_gateway());
      version = cur->version;
    } else {
      auto cur = svc_->cp()->Current(node_);
      nodestate::FullResponseForWire(*cur, resp);
      version = cur->version;
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      building_ = false;
      if (finishing_) return;
      arena_ = std::move(arena);
      sent_ = version;
      ++svc_->stats()->pushed;
      due_ = true;  // a change while this was built is sent next
      MarkWriting();
    }
    StartWrite(resp);
    std::unique_lock<std::mutex> l(mu_);
    while (!written_cv_.wait_for(l, std::chrono::milliseconds(100),
                                 [&] { return !writing_ || done_; })) {
      if (svc_->stopping()) return;  // the write ends with the server's shutdown
    }
  }

  // The server stops: the stream ends.
  void End() { FinishOnce(grpc::Status::OK); }

 private:
  // What to write now, if anything (then marked as being written).
  const v1::SyncResponse* Due(bool changed) {
    std::lock_guard<std::mutex> l(mu_);
    if (changed) due_ = true;  // kept while a write is in flight: checked when it is done
    if (!subscribed_ || finishing_ || writing_ || building_) return nullptr;
    if (due_ && gateway_) {
      due_ = false;
      const uint64_t current = svc_->cp()->CurrentGateway()->version;
      if (current != sent_ && !(sent_ == 0 && current == acked_)) {
        building_ = true;  // whole, on a builder thread: it holds every pod
        svc_->QueueFull(shared_from_this());
        return nullptr;
      }
      if (sent_ == 0) sent_ = current;
    } else if (due_) {
      due_ = false;
      auto cur = svc_->cp()->Current(node_);
      if (cur->version != sent_ && !(sent_ == 0 && cur->version == acked_)) {
        auto base = BaseForLocked();
        if (!base) {
          building_ = true;
          svc_->QueueFull(shared_from_this());
          return nullptr;
        }
        arena_ = std::make_unique<google::protobuf::Arena>();
        auto* resp = google::protobuf::Arena::CreateMessage<v1::SyncResponse>(arena_.get());
        nodestate::DeltaUpdate(*base, *cur, resp->mutable_update());
        sent_ = cur->version;
        ++svc_->stats()->pushed;
        MarkWriting();
        return resp;
      }
      if (sent_ == 0) sent_ = cur->version;  // the client already holds the current version
    }
    if (std::chrono::steady_clock::now() - last_write_ >= svc_->heartbeat()) {
      hb_ = Heartbeat();
      MarkWriting();
      return &hb_;
    }
    return nullptr;
  }

  void Subscribe() {
    const v1::SyncRequest& first = req_;
    if (!first.has_subscribe() || first.subscribe().node().empty()) {
      ++svc_->stats()->refused;
      return FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                     "the first message must be a Subscribe naming the node"));
    }
    const std::string node = first.subscribe().node();
    if (!CertificateNames(*ctx_, node)) {
      ++svc_->stats()->refused;
      svc_->log().Warning("refused ", ctx_->peer(), ": its certificate does not name node ", node);
      return FinishOnce(
          grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                       absl::StrCat("this certificate may not subscribe to node \"", node, "\"")));
    }
    const bool gateway = first.subscribe().role() == v1::ROLE_GATEWAY;
    if (gateway && !svc_->cp()->IsGatewayNode(node)) {
      ++svc_->stats()->refused;
      svc_->log().Warning("refused ", ctx_->peer(), ": node ", node,
                          " is not a gateway-pool node and may not subscribe as a gateway");
      return FinishOnce(grpc::Status(
          grpc::StatusCode::PERMISSION_DENIED,
          absl::StrCat("node \"", node, "\" is not a gateway-pool node: no gateway state for it")));
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      node_ = node;
      gateway_ = gateway;
      acked_ = first.subscribe().have_version();
      due_ = true;
    }
    subscribed_ = true;
    ++svc_->stats()->connected;
    StartRead(&req_);
    Poke(true);
  }

  void TakeAck(const v1::Ack& ack) {
    std::lock_guard<std::mutex> l(mu_);
    if (ack.ok()) {
      ++svc_->stats()->acked;
      acked_ = ack.version();
      const auto changed_at =
          gateway_ ? svc_->cp()->GatewayChangedAt(acked_) : svc_->cp()->ChangedAt(node_, acked_);
      svc_->stats()->ObserveLatency(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - changed_at)
              .count());
    } else {
      ++svc_->stats()->nacked;
      nacked_since_push_ = true;
      svc_->log().Warning(gateway_ ? "gateway on node " : "node ", node_, " NACKed version ",
                          ack.version(), ": ", ack.error());
    }
  }

  // What the client holds: after a NACK what it last ACKed, else what was sent last.
  std::shared_ptr<const NodeState> BaseForLocked() {
    uint64_t base = nacked_since_push_ ? acked_ : (sent_ ? sent_ : acked_);
    nacked_since_push_ = false;
    return base ? svc_->cp()->Version(node_, base) : nullptr;
  }

  void MarkWriting() {
    writing_ = true;
    last_write_ = std::chrono::steady_clock::now();
  }

  // Ends the stream once no write is in flight (the status then waits for OnWriteDone).
  void FinishOnce(const grpc::Status& s) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (finished_) return;
      finishing_ = true;
      pending_ = s;
      if (writing_) return;
      finished_ = true;
    }
    Finish(s);
  }

  Service* svc_;
  grpc::CallbackServerContext* ctx_;
  v1::SyncRequest req_;
  std::atomic<bool> subscribed_{false};
  std::mutex mu_;
  std::condition_variable written_cv_;
  std::string node_;
  bool gateway_ = false;  // subscribed as ROLE_GATEWAY: sent GatewayUpdates, whole
  uint64_t sent_ = 0, acked_ = 0;
  bool nacked_since_push_ = false;
  bool due_ = false;  // a version to check for even without a change
  bool writing_ = false, building_ = false, finishing_ = false, finished_ = false, done_ = false;
  grpc::Status pending_;
  std::unique_ptr<google::protobuf::Arena> arena_;  // the update being written
  v1::SyncResponse hb_;
  std::chrono::steady_clock::time_point last_write_ = std::chrono::steady_clock::now();
};

grpc::ServerBidiReactor<v1::SyncRequest, v1::SyncResponse>* SyncServer::Service::Stream(
    grpc::CallbackServerContext* ctx) {
  auto s = std::make_shared<Session>(this, ctx);
  {
    std::lock_guard<std::mutex> l(mu_);
    sessions_[s.get()] = s;
  }
  s->Begin();
  return s.get();
}

void SyncServer::Service::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  queue_cv_.notify_all();
  cp_->WakeAll();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& t : builders_) t.join();
  std::vector<std::shared_ptr<Session>> all;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [_, s] : sessions_) all.push_back(s);
  }
  for (const auto& s : all) s->End();
}

void SyncServer::Service::Remove(const Session* s) {
  std::shared_ptr<Session> last;
  std::lock_guard<std::mutex> l(mu_);
  auto it = sessions_.find(s);
  if (it == sessions_.end()) return;
  last = std::move(it->second);  // freed after the lock, if nothing else holds it
  sessions_.erase(it);
}

void SyncServer::Service::QueueFull(std::shared_ptr<Session> s) {
  {
    std::lock_guard<std::mutex> l(mu_);
    fulls_.push_back(std::move(s));
  }
  queue_cv_.notify_one();
}

void SyncServer::Service::Dispatch() {
  const auto tick = std::max(std::chrono::milliseconds(10), heartbeat_ / 4);
  uint64_t seen = 0;
  std::vector<std::shared_ptr<Session>> all;
  while (true) {
    uint64_t now = cp_->WaitAnyChange(seen, std::chrono::steady_clock::now() + tick);
    const bool changed = now != seen;
    seen = now;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) return;
      for (const auto& [_, s] : sessions_) all.push_back(s);
    }
    // One thread: the deltas take the control plane's lock of versions (Current, Version) in
    // turn; two threads on two CPUs made a change cost more (1.0 s against 0.76 s at 5,000
    // nodes) and arrive later.
    for (const auto& s : all) s->Poke(changed);
    all.clear();  // no stream is kept alive through the wait
  }
}

void SyncServer::Service::BuildFulls() {
  while (true) {
    std::shared_ptr<Session> s;
    {
      std::unique_lock<std::mutex> l(mu_);
      queue_cv_.wait(l, [&] { return stopping_ || !fulls_.empty(); });
      if (stopping_) return;
      s = std::move(fulls_.front());
      fulls_.pop_front();
    }
    s->SendFull();
  }
}

absl::StatusOr<std::unique_ptr<SyncServer>> SyncServer::Start(ControlPlane* cp,
                                                              const std::string& address,
                                                              const TlsFiles& tls,
                                                              int heartbeat_ms) {
  auto server_tls = ServerTls::Create(tls, tls.refresh);
  if (!server_tls.ok()) return server_tls.status();
  std::unique_ptr<SyncServer> s(new SyncServer());
  s->cp_ = cp;
  s->stats_ = std::make_unique<SyncStats>();
  s->service_ = std::make_unique<Service>(cp, s->stats_.get(), heartbeat_ms);
  grpc::ServerBuilder b;
  s->tls_ = std::move(*server_tls);
  b.AddListeningPort(address, s->tls_->credentials(), &s->port_);
  b.RegisterService(s->service_.get());
  s->server_ = b.BuildAndStart();
  if (!s->server_ || s->port_ == 0)
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address));
  return s;
}

SyncServer::~SyncServer() {
  if (service_) service_->Stop();
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
