#include "agent/nodestate/sync_stream.h"

#include <chrono>
#include <functional>
#include <random>

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "warden/v1/sync.grpc.pb.h"

namespace warden::nodestate {

uint64_t VersionOf(const v1::SyncResponse& r) {
  if (r.has_update()) return r.update().version();
  if (r.has_gateway()) return r.gateway().version();
  return 0;
}

SyncStream::SyncStream(SyncStreamOptions opts, v1::Role role, common::Logger log, TakeFn take,
                       VersionFn held_version)
    : opts_(std::move(opts)),
      role_(role),
      log_(std::move(log)),
      take_(std::move(take)),
      held_version_(std::move(held_version)),
      tls_files_({opts_.cert, opts_.key, opts_.ca}, std::chrono::milliseconds(opts_.tls_check_ms)) {
  stats_.version = held_version_();
}

SyncStream::~SyncStream() { Stop(); }

void SyncStream::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void SyncStream::Stop() {
  stop_ = true;
  {
    std::lock_guard<std::mutex> l(ctx_mu_);
    if (ctx_) ctx_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void SyncStream::Loop() {
  std::mt19937 rng(std::random_device{}());
  int backoff_ms = 100;
  while (!stop_) {
    auto started = std::chrono::steady_clock::now();
    absl::Status st = RunStream();
    stats_.connected = false;
    if (stop_) break;
    log_.Warning("control plane ", opts_.address, ": ", st.message(), "; enforcing version ",
                 held_version_(), " meanwhile");
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
// It also ends the stream when `renew` says so (new TLS files to connect with).
class Watchdog {
 public:
  Watchdog(grpc::ClientContext* ctx, int silence_ms, const std::atomic<bool>& stop,
           std::function<bool()> renew)
      : thread_([this, ctx, silence_ms, &stop, renew = std::move(renew)] {
          while (!finished_ && !stop) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            if (!busy_ && NowMs() - last_ms_ > silence_ms) {
              ctx->TryCancel();
              return;
            }
            if (renew()) {
              renewed_ = true;
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
  bool renewed() const { return renewed_; }
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
  std::atomic<bool> renewed_{false};
  std::thread thread_;
};

}  // namespace

bool SyncStream::TookNewTlsFiles(bool now) {
  if (!(now ? tls_files_.ChangedNow() : tls_files_.Changed())) return false;
  absl::StatusOr<common::TlsPem> pem = common::LoadTlsPem(opts_.cert, opts_.key, opts_.ca);
  if (!pem.ok()) {
    log_.Error("the TLS files changed but do not load, keeping the ones in use: ",
               pem.status().message());
    return false;
  }
  std::lock_guard<std::mutex> l(tls_mu_);
  const bool had = tls_.has_value();
  tls_ = *std::move(pem);
  if (had) log_.Info("the TLS files changed (", opts_.cert, "): connecting with the new ones");
  return had;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> SyncStream::Channel() {
  TookNewTlsFiles(/*now=*/true);  // every reconnect looks
  grpc::SslCredentialsOptions o;
  {
    std::lock_guard<std::mutex> l(tls_mu_);
    if (!tls_) {
      // None has loaded yet: the error, until they do.
      WD_ASSIGN_OR_RETURN(tls_, common::LoadTlsPem(opts_.cert, opts_.key, opts_.ca));
    }
    o.pem_cert_chain = tls_->cert;
    o.pem_private_key = tls_->key;
    o.pem_root_certs = tls_->ca;
  }
  grpc::ChannelArguments args;
  if (!opts_.server_name.empty()) args.SetSslTargetNameOverride(opts_.server_name);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 2000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 2000);
  // Each attempt connects at once, with the Loop's backoff (at most 5 s) between attempts: by
  // default gRPC shares one subchannel among channels to the same target, and its reconnect
  // backoff (up to 120 s) outlives the channel, so after a long outage the control plane could
  // be back for a minute before an agent even tried.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  return grpc::CreateCustomChannel(opts_.address, grpc::SslCredentials(o), args);
}

absl::Status SyncStream::RunStream() {
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
    SyncStream* c;
    ~Clear() {
      std::lock_guard<std::mutex> l(c->ctx_mu_);
      c->ctx_ = nullptr;
    }
  } clear{this};
  auto stream = stub->Stream(&ctx);
  v1::SyncRequest sub;
  sub.mutable_subscribe()->set_node(opts_.node);
  sub.mutable_subscribe()->set_role(role_);
  sub.mutable_subscribe()->set_have_version(held_version_());
  if (!stream->Write(sub)) {
    grpc::Status s = stream->Finish();
    return absl::UnavailableError(absl::StrCat("cannot subscribe: ", s.error_message()));
  }
  ++stats_.connects;
  stats_.connected = true;
  absl::Status result = absl::UnavailableError("stream ended");
  bool renewed = false;
  {
    Watchdog watchdog(&ctx, opts_.silence_ms, stop_, [this] { return TookNewTlsFiles(false); });
    v1::SyncResponse resp;
    while (stream->Read(&resp)) {
      watchdog.Heard();
      if (resp.has_heartbeat()) continue;
      ++stats_.updates;
      absl::Status st;
      {
        Watchdog::BusyScope busy(&watchdog);
        st = take_(resp);
      }
      v1::SyncRequest ack;
      ack.mutable_ack()->set_version(VersionOf(resp));
      ack.mutable_ack()->set_ok(st.ok());
      if (st.ok()) {
        ++stats_.acks;
      } else {
        ++stats_.nacks;
        ack.mutable_ack()->set_error(std::string(st.message()));
        log_.Warning("NACK version ", VersionOf(resp), ": ", st.message());
      }
      if (!stream->Write(ack)) break;
      if (absl::IsFailedPrecondition(st)) {
        result = absl::FailedPreconditionError("out of step with the control plane: resubscribing");
        ctx.TryCancel();
        break;
      }
    }
    renewed = watchdog.renewed();
  }
  grpc::Status s = stream->Finish();
  if (renewed) return absl::UnavailableError("reconnecting with the new TLS files");
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("stream closed: ", s.error_message()));
  return result;
}

}  // namespace warden::nodestate
