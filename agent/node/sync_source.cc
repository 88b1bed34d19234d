#include "agent/node/sync_source.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "agent/nodestate/store.h"

namespace warden::node {

SyncSource::SyncSource(SyncClientOptions opts, std::string state_dir)
    : opts_(std::move(opts)), state_dir_(std::move(state_dir)), log_("warden node " + opts_.node) {
  held_.node = opts_.node;
}

absl::StatusOr<std::unique_ptr<SyncSource>> SyncSource::Create(SyncClientOptions opts,
                                                               std::string state_dir) {
  if (opts.address.empty()) return absl::InvalidArgumentError("--control: an address is required");
  if (opts.cert.empty() || opts.key.empty() || opts.ca.empty())
    return absl::InvalidArgumentError("--control needs --tls-cert, --tls-key and --tls-ca");
  if (!state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir, ec);
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("--state-dir ", state_dir, ": ", ec.message()));
  }
  return std::unique_ptr<SyncSource>(new SyncSource(std::move(opts), std::move(state_dir)));
}

SyncSource::~SyncSource() { Stop(); }

std::string SyncSource::StatePath() const {
  return state_dir_.empty() ? "" : absl::StrCat(state_dir_, "/", opts_.node, ".state");
}

std::optional<nodestate::NodeState> SyncSource::Initial() {
  if (StatePath().empty()) return std::nullopt;
  absl::StatusOr<nodestate::NodeState> saved = nodestate::LoadNodeState(StatePath());
  if (!saved.ok()) {
    if (!absl::IsNotFound(saved.status()))
      log_.Warning("ignoring saved state: ", saved.status().message());
    return std::nullopt;
  }
  if (saved->node != opts_.node) {
    log_.Warning("ignoring saved state: it is node ", saved->node, "'s");
    return std::nullopt;
  }
  held_ = *saved;
  log_.Info("enforcing saved version ", held_.version, " until the control plane answers");
  return std::move(*saved);
}

void SyncSource::Start(Enforce enforce) {
  client_ = std::make_unique<SyncClient>(
      opts_, held_, [this, enforce = std::move(enforce)](const nodestate::NodeState& s) {
        absl::Status st = enforce(s);
        if (st.ok() && !StatePath().empty()) Save(s);
        return st;
      });
  client_->Start();
}

void SyncSource::Stop() {
  if (client_) client_->Stop();
  if (saver_.joinable()) {
    {
      std::lock_guard<std::mutex> l(save_mu_);
      save_stop_ = true;
    }
    save_cv_.notify_all();
    saver_.join();  // writes what is still pending
  }
}

void SyncSource::Save(const nodestate::NodeState& s) {
  {
    std::lock_guard<std::mutex> l(save_mu_);
    to_save_ = s;  // shares its parts with s: cheap
    if (!saver_.joinable()) saver_ = std::thread([this] { SaveLoop(); });
  }
  save_cv_.notify_all();
}

void SyncSource::SaveLoop() {
  std::unique_lock<std::mutex> l(save_mu_);
  while (true) {
    save_cv_.wait(l, [&] { return to_save_ || save_stop_; });
    if (!to_save_) return;
    // Let a burst of updates settle; the newest one is written.
    save_cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return save_stop_; });
    nodestate::NodeState s = std::move(*to_save_);
    to_save_.reset();
    l.unlock();
    if (auto st = nodestate::SaveNodeState(s, StatePath()); !st.ok())
      log_.Error("cannot save the state in force: ", st.message());
    l.lock();
  }
}

void SyncSource::AppendMetrics(const std::string& labels, std::string* out) const {
  if (!client_) return;
  const SyncClientStats& s = client_->stats();
  auto sample = [&](const char* name, const char* help, const char* type, uint64_t v) {
    absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, "{",
                    labels, "} ", v, "\n");
  };
  sample("warden_control_connected", "1 while the Sync stream is up.", "gauge",
         s.connected.load() ? 1 : 0);
  sample("warden_control_version", "Version of the control-plane state in force.", "gauge",
         s.version.load());
  sample("warden_control_acks_total", "Updates ACKed.", "counter", s.acks.load());
  sample("warden_control_nacks_total", "Updates NACKed.", "counter", s.nacks.load());
  sample("warden_control_connects_total", "Sync streams opened.", "counter", s.connects.load());
}

}  // namespace warden::node
