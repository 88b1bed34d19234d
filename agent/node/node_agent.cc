#include "agent/node/node_agent.h"

#include <malloc.h>
#include <sys/stat.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "agent/common/dir_watch.h"
#include "agent/node/verdict_log.h"
#include "agent/policy/compiler.h"

namespace warden::node {

namespace {
int64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

absl::StatusOr<std::unique_ptr<NodeAgent>> NodeAgent::Create(const NodeAgentOptions& opts) {
  if (opts.node.empty()) return absl::InvalidArgumentError("--node is required");
  if (opts.manifests.empty() == opts.control.empty()) {
    return absl::InvalidArgumentError("give either --manifests DIR or --control ADDR");
  }
  if (!opts.control.empty() &&
      (opts.tls_cert.empty() || opts.tls_key.empty() || opts.tls_ca.empty())) {
    return absl::InvalidArgumentError("--control needs --tls-cert, --tls-key and --tls-ca");
  }
  if (opts.cgroup_root.empty()) return absl::InvalidArgumentError("--cgroup-root is required");
  if (opts.bpffs.empty()) return absl::InvalidArgumentError("--bpffs is required");
  std::unique_ptr<NodeAgent> a(new NodeAgent(opts));
  if (opts.log_path == "-" || opts.log_path.empty()) {
    a->log_ = stdout;
  } else {
    a->log_ = fopen(opts.log_path.c_str(), "a");
    if (!a->log_)
      return absl::InvalidArgumentError(
          absl::StrCat("--log ", opts.log_path, ": cannot open for append"));
  }
  if (!opts.state_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(opts.state_dir, ec);
    if (ec)
      return absl::InvalidArgumentError(
          absl::StrCat("--state-dir ", opts.state_dir, ": ", ec.message()));
  }
  datapath::BpfDatapath::Options dopts;
  dopts.bpffs_dir = opts.bpffs;
  dopts.cgroup_path = opts.cgroup_root;
  auto dp = datapath::BpfDatapath::Open(dopts);
  if (!dp.ok()) return dp.status();
  a->dp_ = std::move(*dp);
  return a;
}

NodeAgent::~NodeAgent() {
  if (sync_) sync_->Stop();
  if (saver_.joinable()) {
    {
      std::lock_guard<std::mutex> l(save_mu_);
      save_stop_ = true;
    }
    save_cv_.notify_all();
    saver_.join();  // writes what is still pending
  }
  http_.reset();
  if (log_ && log_ != stdout) fclose(log_);
}

void NodeAgent::Log(const std::string& msg) const {
  std::cerr << "warden node " << opts_.node << ": " << msg << std::endl;
}

std::string NodeAgent::StatePath() const {
  return opts_.state_dir.empty() ? "" : absl::StrCat(opts_.state_dir, "/", opts_.node, ".state");
}

std::string NodeAgent::ManifestFingerprint() const {
  return common::DirFingerprint(opts_.manifests);
}

absl::StatusOr<bool> NodeAgent::Reconcile() {
  std::lock_guard<std::mutex> l(mu_);
  // Without any state yet (control mode, control plane not answered), leave the tables alone.
  if (!opts_.control.empty() && !desired_ && (applied_ || keep_existing_)) return false;
  return ReconcileLocked();
}

absl::Status NodeAgent::OfferState(const control::NodeState& s) {
  std::lock_guard<std::mutex> l(mu_);
  std::optional<control::NodeState> before = desired_;
  desired_ = s;
  ++desired_gen_;
  auto r = ReconcileLocked();
  if (!r.ok()) {
    desired_ = std::move(before);  // NACK: keep what is in force
    ++desired_gen_;
    return r.status();
  }
  ++stats_.manifest_loads;
  if (!StatePath().empty()) Persist(s);
  return absl::OkStatus();
}

void NodeAgent::Persist(const control::NodeState& s) {
  {
    std::lock_guard<std::mutex> l(save_mu_);
    to_save_ = s;  // shares its parts with s: cheap
    if (!saver_.joinable()) saver_ = std::thread([this] { SaveLoop(); });
  }
  save_cv_.notify_all();
}

void NodeAgent::SaveLoop() {
  std::unique_lock<std::mutex> l(save_mu_);
  while (true) {
    save_cv_.wait(l, [&] { return to_save_ || save_stop_; });
    if (!to_save_) return;
    // Let a burst of updates settle; the newest one is written.
    save_cv_.wait_for(l, std::chrono::milliseconds(200), [&] { return save_stop_; });
    control::NodeState s = std::move(*to_save_);
    to_save_.reset();
    l.unlock();
    if (auto st = control::SaveNodeState(s, StatePath()); !st.ok())
      Log(absl::StrCat("cannot persist: ", st.message()));
    l.lock();
  }
}

absl::StatusOr<bool> NodeAgent::ReconcileLocked() {
  bool reloaded = false;
  if (opts_.control.empty()) {
    std::string fp = ManifestFingerprint();
    if (!desired_ || fp != fingerprint_) {
      policy::LoadResult loaded = source_.Load();
      stats_.manifest_errors = loaded.errors.size();
      for (const auto& e : loaded.errors) Log("manifest error: " + e.ToString());
      state_ = std::make_unique<policy::ClusterState>(std::move(loaded.state));
      policy::CompileOptions co;
      co.cluster_cidrs = opts_.cluster_cidrs;
      policy::Snapshot snap = policy::Compile(*state_, co, &compile_cache_);
      // Parts shared with the previous state (unchanged identities' blocks, the ipcache): the
      // tables are then patched only where the policy changed, as in control mode.
      parts_ = std::make_unique<control::SharedParts>(
          control::ComputeSharedParts(*state_, snap, parts_.get()));
      desired_ =
          control::ComputeNodeState(*state_, snap, *parts_, opts_.node, opts_.gateway_namespace);
      ++desired_gen_;
      fingerprint_ = fp;
      reloaded = true;
    }
    if (reloaded) malloc_trim(0);  // the parse and compile peak, freed: back to the kernel
  }
  // Counted once this reconcile is over, applied or not: tests wait on it.
  struct CountLoad {
    bool on;
    std::atomic<uint64_t>* n;
    ~CountLoad() {
      if (on) ++*n;
    }
  } count_load{reloaded, &stats_.manifest_loads};
  control::NodeState empty;
  empty.node = opts_.node;
  const control::NodeState& want = desired_ ? *desired_ : empty;

  // Pod cgroups come and go far less often than ticks: with nothing new to apply, rescan them
  // once a second (a pod whose cgroup is not seen yet stays unknown, denied, meanwhile).
  auto now = std::chrono::steady_clock::now();
  if (applied_ && !applied_inputs_.empty() && applied_inputs_.front().second == desired_gen_ &&
      now - last_scan_ < std::chrono::seconds(1)) {
    return false;
  }
  auto kubepods = FindKubepods(opts_.cgroup_root);
  if (!kubepods.ok()) return kubepods.status();
  // A new state for the same pods (a policy change) reuses the last scan: finding cgroups that
  // came or went since is the tick's job (above: once a second when nothing new arrives), and
  // an update should cost what it changes, not a walk over every pod's cgroup. A scan older
  // than 30 s is redone anyway, in case new states keep arriving faster than ticks.
  std::vector<std::pair<std::string, std::string>> looking_for;
  looking_for.reserve(want.pods.size());
  for (const auto& [key, pod] : want.pods) looking_for.emplace_back(key, pod.uid);
  const bool new_state = applied_inputs_.empty() || applied_inputs_.front().second != desired_gen_;
  const auto max_age = new_state ? std::chrono::seconds(30) : std::chrono::seconds(1);
  if (looking_for != scanned_for_ || now - last_scan_ >= max_age) {
    last_scan_ = now;
    scanned_local_.clear();
    scanned_missing_ = 0;
    for (const auto& [key, pod] : want.pods) {
      auto path = FindPodCgroup(*kubepods, pod.uid);
      if (!path) {
        ++scanned_missing_;  // not started yet (or already gone): its processes stay unknown
        continue;
      }
      auto id = common::CgroupId(*path);
      if (!id.ok()) continue;
      scanned_local_.push_back(LocalPod{key, *id});
    }
    scanned_for_ = std::move(looking_for);
  }
  const std::vector<LocalPod>& local = scanned_local_;
  absl::flat_hash_map<uint64_t, std::string> by_cgroup;
  for (const auto& lp : local) by_cgroup[lp.cgroup_id] = lp.key;
  stats_.local_pods = local.size();
  stats_.pods_without_cgroup = scanned_missing_;
  // Nothing changed since the last apply (the common tick): no tables to build or compare.
  std::vector<std::pair<std::string, uint64_t>> inputs;
  inputs.reserve(local.size() + 1);
  inputs.emplace_back(absl::StrCat(":kubepods:", kubepods->id, ":", kubepods->level), desired_gen_);
  for (const auto& lp : local) inputs.emplace_back(lp.key, lp.cgroup_id);
  if (applied_ && inputs == applied_inputs_) return false;
  // With a control plane the pool and its allowances come with the state; the flags hold only
  // until the first state arrives.
  bool pushed = !opts_.control.empty() && desired_;
  datapath::TableChanges changes;
  const std::vector<Allowance>& allowances = pushed ? want.allowances : opts_.allowances;
  // With tables in force, patch them in place (an update costs what it changes) and keep how
  // to put them back; otherwise build them.
  const bool patch = applied_.has_value();  // built_from_ is set whenever applied_ is
  TablesUndo undo;
  std::optional<datapath::NodeTables> built;
  if (patch) {
    PatchNodeTables(want, local, allowances, *built_from_, &*applied_, &changes, &undo);
  } else {
    built = BuildNodeTables(want, local, allowances, nullptr, nullptr, &changes);
  }
  const datapath::NodeTables& tables = patch ? *applied_ : *built;
  datapath::NodeConfig cfg =
      NodeConfigFor(*kubepods, pushed ? want.pool : opts_.pool, opts_.unknown_pod);
  if (patch && undo.Unchanged(tables) && datapath::SameConfig(applied_config_, cfg)) {
    built_from_ = want;
    applied_inputs_ = std::move(inputs);
    return false;
  }
  if (auto st = dp_->Apply(tables, cfg, &changes); !st.ok()) {
    ++stats_.apply_errors;
    // The tables in force stay as they were, and so does what the agent says is in force.
    if (patch) RestoreNodeTables(&*applied_, std::move(undo));
    return st;
  }
  if (!changes.known || changes.policy.size() > 4096) {
    // A full build or a large change (the first state, say): bring the other copy up to date
    // as well, now, so that the next update writes only what it changes, not this again.
    datapath::TableChanges none;
    none.known = true;
    none.ipcache = false;
    if (auto st = dp_->Apply(tables, cfg, &none); !st.ok())
      Log(absl::StrCat("writing the idle copy: ", st.message(), " (the next update writes it)"));
  }
  if (!patch) applied_ = std::move(*built);
  built_from_ = want;
  applied_config_ = cfg;
  applied_inputs_ = std::move(inputs);
  pod_by_cgroup_ = std::move(by_cgroup);
  ++stats_.applies;
  stats_.last_apply_unix_ms = NowNs(CLOCK_REALTIME) / 1000000;
  if (auto c = dp_->ReadConfig(); c.ok()) stats_.generation = c->generation;
  return true;
}

absl::Status NodeAgent::Start() {
  bool control = !opts_.control.empty();
  if (control && !StatePath().empty()) {
    auto saved = control::LoadNodeState(StatePath());
    if (saved.ok() && saved->node == opts_.node) {
      desired_ = std::move(*saved);
      Log(absl::StrCat("enforcing saved version ", desired_->version,
                       " until the control plane answers"));
    } else if (!absl::IsNotFound(saved.status())) {
      Log(absl::StrCat("ignoring saved state: ", saved.status().message()));
    }
  }
  auto cfg = dp_->ReadConfig();
  if (!cfg.ok()) return cfg.status();
  // With no state to offer, tables an earlier agent left in force stay untouched until the
  // control plane answers; fresh tables start empty (every pod unknown: fail closed).
  if (!control || desired_ || !cfg->configured) {
    auto r = Reconcile();
    if (!r.ok()) return r.status();
  } else {
    keep_existing_ = true;
    Log(absl::StrCat("no saved state: keeping generation ", cfg->generation,
                     " in force until the control plane answers"));
  }
  auto attached = dp_->Attach();
  if (!attached.ok()) return attached.status();
  int adopted = 0;
  for (const auto& ap : *attached) adopted += ap.adopted;
  // Loading the programs parsed the kernel's BTF (megabytes, freed since) and the first
  // reconcile built the whole cluster state: hand the freed heap back to the kernel, or the
  // agent keeps its start-up peak as resident memory on every node for good.
  malloc_trim(0);
  Log(absl::StrCat(adopted ? "adopted " : "attached ", attached->size(), " programs on ",
                   opts_.cgroup_root, " (", stats_.local_pods.load(), " local pods, generation ",
                   stats_.generation.load(), ")"));
  if (control) {
    SyncClientOptions so{opts_.control, opts_.node,   opts_.tls_cert,
                         opts_.tls_key, opts_.tls_ca, opts_.tls_server_name};
    sync_ =
        std::make_unique<SyncClient>(so, desired_.value_or(control::NodeState{}),
                                     [this](const control::NodeState& s) { return OfferState(s); });
    sync_->Start();
  }
  if (!opts_.metrics_address.empty()) {
    auto http = common::HttpServer::Start(opts_.metrics_address, [this](const std::string& path) {
      if (path != "/metrics") return common::HttpResponse{404, "text/plain", "not found\n"};
      return common::HttpResponse{200, "text/plain; version=0.0.4", RenderMetrics()};
    });
    if (!http.ok()) return http.status();
    http_ = std::move(*http);
  }
  return absl::OkStatus();
}

void NodeAgent::DrainEvents(int timeout_ms) {
  int64_t offset = NowNs(CLOCK_REALTIME) - NowNs(CLOCK_MONOTONIC);
  std::vector<wd_event> events;
  auto st = dp_->PollEvents(timeout_ms, [&](const wd_event& e) { events.push_back(e); });
  if (!st.ok()) Log(std::string(st.message()));
  if (events.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  EventContext ctx{opts_.node, state_.get(), desired_ ? &*desired_ : nullptr, &pod_by_cgroup_};
  for (const auto& e : events) {
    ++stats_.events;
    std::string line = VerdictLogLine(e, static_cast<int64_t>(e.timestamp_ns) + offset, ctx);
    fprintf(log_, "%s\n", line.c_str());
  }
  fflush(log_);
}

void NodeAgent::Run(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    auto r = Reconcile();
    if (!r.ok()) Log(absl::StrCat("keeping the tables in force: ", r.status().message()));
    DrainEvents(opts_.interval_ms);
  }
}

std::string NodeAgent::RenderMetrics() const {
  std::string out;
  std::string node = absl::StrCat("node=\"", opts_.node, "\"");
  absl::StrAppend(&out,
                  "# HELP warden_verdicts_total Packets and connects judged by the datapath.\n",
                  "# TYPE warden_verdicts_total counter\n");
  if (auto c = dp_->ReadCounters(); c.ok()) {
    for (uint8_t hook = 0; hook < WD_HOOK_COUNT; ++hook) {
      for (uint8_t reason = 0; reason < WD_REASON_COUNT; ++reason) {
        bool allow = reason <= WD_REASON_ALLOW_UNKNOWN_POD;
        absl::StrAppend(&out, "warden_verdicts_total{", node, ",hook=\"", datapath::HookName(hook),
                        "\",reason=\"", datapath::ReasonName(reason), "\",verdict=\"",
                        allow ? "allow" : "deny", "\"} ", (*c)[hook * WD_REASON_COUNT + reason],
                        "\n");
      }
    }
  }
  auto gauge = [&](const char* name, const char* help, const char* type, uint64_t v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, "{",
                    node, "} ", v, "\n");
  };
  gauge("warden_policy_generation", "Generation of the tables in force.", "gauge",
        stats_.generation.load());
  gauge("warden_applies_total", "Table updates applied.", "counter", stats_.applies.load());
  gauge("warden_apply_errors_total", "Table updates refused (previous tables kept).", "counter",
        stats_.apply_errors.load());
  gauge("warden_manifest_errors", "Invalid manifest objects in the last load.", "gauge",
        stats_.manifest_errors.load());
  gauge("warden_manifest_loads_total", "Desired-state changes fully reconciled.", "counter",
        stats_.manifest_loads.load());
  gauge("warden_local_pods", "Pods on this node with a known cgroup.", "gauge",
        stats_.local_pods.load());
  gauge("warden_pods_without_cgroup", "Pods scheduled here whose cgroup is not there.", "gauge",
        stats_.pods_without_cgroup.load());
  gauge("warden_events_total", "Verdict events logged.", "counter", stats_.events.load());
  gauge("warden_last_apply_timestamp_ms", "Wall-clock time of the last table update.", "gauge",
        static_cast<uint64_t>(stats_.last_apply_unix_ms.load()));
  if (sync_) {
    const auto& s = sync_->stats();
    gauge("warden_control_connected", "1 while the Sync stream is up.", "gauge",
          s.connected.load() ? 1 : 0);
    gauge("warden_control_version", "Version of the control-plane state in force.", "gauge",
          s.version.load());
    gauge("warden_control_acks_total", "Updates ACKed.", "counter", s.acks.load());
    gauge("warden_control_nacks_total", "Updates NACKed.", "counter", s.nacks.load());
    gauge("warden_control_connects_total", "Sync streams opened.", "counter", s.connects.load());
  }
  return out;
}

}  // namespace warden::node
