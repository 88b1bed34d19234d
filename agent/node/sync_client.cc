#include "agent/node/sync_client.h"

#include <chrono>
#include <random>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/wire.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden::node {

SyncClient::SyncClient(SyncClientOptions opts, nodestate::NodeState held, ApplyFn apply)
    : opts_(std::move(opts)),
      log_("warden node " + opts_.node),
      held_(std::move(held)),
      apply_(std::move(apply)) {
  stats_.version = held_.version;
}

SyncClient::~SyncClient() { Stop(); }

void SyncClient::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void SyncClient::Stop() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (ctx_) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void SyncClient::Loop() {
  std::mt19937 rng(std::random_device{}());
  int backoff_ms = 100;
  while (!stop_) {
    auto started = std::chrono::steady_clock::now();
    absl::Status st = RunStream();
    stats_.connected = false;
    if (stop_) break;
    log_.Warning("control plane ", opts_.address, ": ", st.message(), "; enforcing version ",
                 held_.version, " meanwhile");
    // A stream that lived a while resets the backoff.
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(10)) backoff_ms = 100;
    int wait = std::uniform_int_distribution<int>(backoff_ms / 2, backoff_ms)(rng);
    for (int waited = 0; waited < wait && !stop_; waited += 20)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    backoff_ms = std::min(backoff_ms * 2, 5000);
  }
}

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Cancels a stream that has gone silent for `silence_ms` (the server heartbeats when idle).
// While an update is being applied the client reads nothing, so that time is not silence: a
// first state of 160,000 addresses can take longer than `silence_ms` to enforce, and cancelling
// then would lose its ACK and send the whole state again.
class Watchdog {
 public:
  Watchdog(grpc::ClientContext* ctx, int silence_ms, const std::atomic<bool>& stop)
      : thread_([this, ctx, silence_ms, &stop] {
          while (!finished_ && !stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (!busy_ && NowMs() - last_ms_ > silence_ms) {
              ctx->TryCancel();
              return;
            }
          }
        }) {}
  ~Watchdog() {
    finished_ = true;
    thread_.join();
  }
  void Heard() { last_ms_ = NowMs(); }
  // For as long as it lives, the client is busy, not the stream silent.
  class BusyScope {
   public:
    explicit BusyScope(Watchdog* w) : w_(w) { w_->busy_ = true; }
    ~BusyScope() {
      w_->Heard();
      w_->busy_ = false;
    }

   private:
    Watchdog* w_;
  };

 private:
  std::atomic<int64_t> last_ms_{NowMs()};
  std::atomic<bool> busy_{false};
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> SyncClient::Channel() const {
  grpc::SslCredentialsOptions o;
  WD_ASSIGN_OR_RETURN(o.pem_cert_chain, common::ReadFile(opts_.cert));
  WD_ASSIGN_OR_RETURN(o.pem_private_key, common::ReadFile(opts_.key));
  WD_ASSIGN_OR_RETURN(o.pem_root_certs, common::ReadFile(opts_.ca));
  grpc::ChannelArguments args;
  if (!opts_.server_name.empty()) args.SetSslTargetNameOverride(opts_.server_name);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  return grpc::CreateCustomChannel(opts_.address, grpc::SslCredentials(o), args);
}

absl::Status SyncClient::Take(const v1::Update& u) {
  auto t0 = std::chrono::steady_clock::now();
  nodestate::NodeState next = held_;
  WD_RETURN_IF_ERROR(nodestate::ApplyUpdate(u, &next));
  if (next.node != opts_.node) {
    return absl::InvalidArgumentError(
        absl::StrCat("node_config.node: \"", next.node, "\" is not this node"));
  }
  WD_RETURN_IF_ERROR(apply_(next));
  held_ = std::move(next);
  stats_.version = held_.version;
  log_.Info(
      "version ", u.version(), " (", u.full() ? "full" : "delta", ", ", u.ByteSizeLong(),
      " bytes) in force in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count(),
      " ms");
  return absl::OkStatus();
}

absl::Status SyncClient::RunStream() {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = Channel();
  if (!channel.ok()) return absl::InvalidArgumentError(channel.status().message());
  auto stub = v1::Sync::NewStub(*channel);
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (stop_) return absl::CancelledError("stopping");
    ctx_ = &ctx;
  }
  struct Clear {
    SyncClient* c;
    ~Clear() {
      std::lock_guard<std::mutex> l(c->ctx_mu_);
      c->ctx_ = nullptr;
    }
  } clear{this};
  auto stream = stub->Stream(&ctx);
  v1::SyncRequest sub;
  sub.mutable_subscribe()->set_node(opts_.node);
  sub.mutable_subscribe()->set_role(v1::ROLE_NODE);
  sub.mutable_subscribe()->set_have_version(held_.version);
  if (!stream->Write(sub)) {
    grpc::Status s = stream->Finish();
    return absl::UnavailableError(absl::StrCat("cannot subscribe: ", s.error_message()));
  }
  ++stats_.connects;
  stats_.connected = true;
  absl::Status result = absl::UnavailableError("stream ended");
  {
    Watchdog watchdog(&ctx, opts_.silence_ms, stop_);
    v1::SyncResponse resp;
    while (stream->Read(&resp)) {
      watchdog.Heard();
      if (!resp.has_update()) continue;
      ++stats_.updates;
      absl::Status st;
      {
        Watchdog::BusyScope busy(&watchdog);
        st = Take(resp.update());
      }
      v1::SyncRequest ack;
      ack.mutable_ack()->set_version(resp.update().version());
      ack.mutable_ack()->set_ok(st.ok());
      if (st.ok()) {
        ++stats_.acks;
      } else {
        ++stats_.nacks;
        ack.mutable_ack()->set_error(std::string(st.message()));
        log_.Warning("NACK version ", resp.update().version(), ": ", st.message());
      }
      if (!stream->Write(ack)) break;
      if (absl::IsFailedPrecondition(st)) {
        result = absl::FailedPreconditionError("out of step with the control plane: resubscribing");
        ctx.TryCancel();
        break;
      }
    }
  }
  grpc::Status s = stream->Finish();
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("stream closed: ", s.error_message()));
  return result;
}

}  // namespace warden::node
