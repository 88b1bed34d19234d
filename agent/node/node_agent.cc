#include "agent/node/node_agent.h"

#include <malloc.h>

#include <chrono>
#include <cstring>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "agent/common/status_macros.h"
#include "agent/node/verdict_log.h"

namespace warden::node {

namespace {
int64_t NowNs(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
}  // namespace

NodeAgent::NodeAgent(NodeAgentOptions opts, std::unique_ptr<DesiredStateSource> source)
    : opts_(std::move(opts)),
      source_(std::move(source)),
      log_("warden node " + opts_.node),
      capabilities_(log_) {}

absl::StatusOr<std::unique_ptr<NodeAgent>> NodeAgent::Create(
    const NodeAgentOptions& opts, std::unique_ptr<DesiredStateSource> source) {
  if (opts.node.empty()) return absl::InvalidArgumentError("--node is required");
  if (opts.cgroup_root.empty()) return absl::InvalidArgumentError("--cgroup-root is required");
  if (opts.bpffs.empty()) return absl::InvalidArgumentError("--bpffs is required");
  if (!source) return absl::InvalidArgumentError("no source of desired state");
  std::unique_ptr<NodeAgent> a(new NodeAgent(opts, std::move(source)));
  if (opts.log_path == "-" || opts.log_path.empty()) {
    a->log_file_ = stdout;
  } else {
    a->log_file_ = fopen(opts.log_path.c_str(), "a");
    if (!a->log_file_)
      return absl::InvalidArgumentError(
          absl::StrCat("--log ", opts.log_path, ": cannot open for append"));
  }
  if (!opts.load_in_start) WD_RETURN_IF_ERROR(a->OpenDatapath());
  return a;
}

absl::Status NodeAgent::OpenDatapath() {
  datapath::BpfDatapath::Options dopts;
  dopts.bpffs_dir = opts_.bpffs;
  dopts.cgroup_path = opts_.cgroup_root;
  dopts.capacity = opts_.capacity;
  WD_ASSIGN_OR_RETURN(std::unique_ptr<datapath::BpfDatapath> dp,
                      datapath::BpfDatapath::Open(dopts));
  std::lock_guard<std::mutex> l(dp_mu_);
  dp_ = std::move(dp);
  return absl::OkStatus();
}

absl::Status NodeAgent::Preview() {
  std::optional<nodestate::NodeState> initial = source_->Initial();
  std::lock_guard<std::mutex> l(mu_);
  previewed_ = true;
  if (!initial) return absl::OkStatus();
  desired_ = std::move(*initial);
  ++desired_gen_;
  if (!opts_.on_applied) return absl::OkStatus();
  absl::StatusOr<common::KubepodsCgroup> kubepods = common::FindKubepods(opts_.cgroup_root);
  if (!kubepods.ok()) {
    // Start's reconcile says what is wrong, and fails if it still is.
    log_.Info("no preview: ", kubepods.status().message());
    return absl::OkStatus();
  }
  absl::flat_hash_map<uint64_t, std::string> pods;
  for (const LocalPod& lp : ScanPods(*desired_, *kubepods)) pods[lp.cgroup_id] = lp.key;
  // Start's first reconcile scans again: pods may start while the programs load.
  scanned_for_.clear();
  opts_.on_applied(*desired_, pods);
  log_.Info("before loading the programs: version ", desired_->version, " and ", pods.size(),
            " local pods handed to the forwarder");
  return absl::OkStatus();
}

std::shared_ptr<datapath::BpfDatapath> NodeAgent::Datapath() const {
  std::lock_guard<std::mutex> l(dp_mu_);
  return dp_;
}

absl::Status NodeAgent::GrowTables(const datapath::NodeTables& tables) {
  const datapath::Capacity have = dp_->capacity();
  WD_ASSIGN_OR_RETURN(datapath::Capacity want, datapath::Grown(have, datapath::NeedsOf(tables)));
  const std::string what = datapath::CapacityChanges(have, want);
  if (what.empty()) return absl::ResourceExhaustedError("no table is too small to grow");
  WD_ASSIGN_OR_RETURN(std::unique_ptr<datapath::BpfDatapath> next, dp_->Grow(want));
  {
    std::lock_guard<std::mutex> l(dp_mu_);
    dp_ = std::move(next);
  }
  ++stats_.table_grows;
  log_.Info("grew the tables: ", what);
  return absl::OkStatus();
}

NodeAgent::~NodeAgent() {
  source_->Stop();
  http_.reset();
  if (log_file_ && log_file_ != stdout) fclose(log_file_);
}

absl::StatusOr<bool> NodeAgent::Reconcile() {
  std::lock_guard<std::mutex> l(mu_);
  // Without any desired state yet, leave the tables in force alone.
  if (!desired_ && (applied_ || keep_existing_)) return false;
  return ReconcileLocked();
}

absl::Status NodeAgent::Enforce(const nodestate::NodeState& d) {
  std::lock_guard<std::mutex> l(mu_);
  std::optional<nodestate::NodeState> before = std::move(desired_);
  desired_ = d;
  ++desired_gen_;
  absl::StatusOr<bool> r = ReconcileLocked();
  if (!r.ok()) {
    desired_ = std::move(before);  // refused: keep what is in force
    ++desired_gen_;
    return r.status();
  }
  ++stats_.desired_states;
  return absl::OkStatus();
}

namespace {

// The forwarder's part of the datapath's configuration for state `want`: none on a gateway-pool
// node or without a forwarder; no gateway known (connects refused) when the state names none.
datapath::NodeConfig::Forwarder ForwarderConfig(const NodeAgentOptions::Forwarding& f,
                                                const nodestate::NodeState& want) {
  datapath::NodeConfig::Forwarder out;
  if (f.port == 0 || want.pool != WD_POOL_DEFAULT) return out;
  std::memcpy(out.addr, f.addr.data(), 4);
  out.port = f.port;
  for (size_t i = 0; i < f.world_ports.size() && i < WD_FWD_PORTS; ++i)
    out.world_ports[i] = f.world_ports[i];
  if (!want.gateways.empty()) {
    const nodestate::GatewayEndpoint& g = want.gateways.front();
    const bool v4 = g.address.family == policy::Family::kV4;
    out.gateway_family = v4 ? WD_AF_INET : WD_AF_INET6;
    std::memcpy(out.gateway_addr, g.address.bytes.data(), v4 ? 4 : 16);
    out.gateway_port = g.port;
  }
  return out;
}

}  // namespace

// The pool comes with the desired state, from the Node object's label, in both modes; the
// --pool flag only holds until the first state.
void NodeAgent::NotePool(uint8_t pool) {
  if (noted_pool_ == pool) return;
  if (noted_pool_ || pool != opts_.pool) {
    log_.Info("node pool ", pool == WD_POOL_GATEWAY ? "gateway" : "default", " (the Node's label ",
              policy::kNodePoolLabel, "; --pool holds only until then)");
  }
  noted_pool_ = pool;
}

const std::vector<LocalPod>& NodeAgent::ScanPods(const nodestate::NodeState& want,
                                                 const common::KubepodsCgroup& kubepods) {
  // A new state for the same pods (a policy change) reuses the last scan: finding cgroups that
  // came or went since is the tick's job (once a second when nothing new arrives), and an update
  // should cost what it changes, not a walk over every pod's cgroup. A scan older than 30 s is
  // redone anyway, in case new states keep arriving faster than ticks.
  std::vector<std::pair<std::string, std::string>> looking_for;
  looking_for.reserve(want.pods.size());
  for (const auto& [key, pod] : want.pods) looking_for.emplace_back(key, pod.uid);
  const auto now = std::chrono::steady_clock::now();
  const bool new_state = applied_inputs_.empty() || applied_inputs_.front().second != desired_gen_;
  const auto max_age = new_state ? std::chrono::seconds(30) : std::chrono::seconds(1);
  if (looking_for == scanned_for_ && now - last_scan_ < max_age) return scanned_local_;
  last_scan_ = now;
  scanned_local_.clear();
  scanned_paths_.clear();
  scanned_missing_ = 0;
  scanned_without_interface_ = 0;
  // Each pod's interface, from the node's host routes (pod_interfaces.h), else from inside the
  // pod's network namespace (pod_netns_interface.h: behind a bridge). A pod that shares the
  // node's address (hostNetwork) has none of its own; one found neither way is counted: only the
  // cgroup programs judge it.
  const HostRoutes routes = ReadHostRoutes();
  auto interface_of = [&](const std::string& key, const nodestate::ScheduledPod& pod,
                          const std::string& cgroup) {
    for (const auto& ip : pod.addresses) {
      for (const auto& own : want.node_addresses)
        if (ip == own) return uint32_t{0};
    }
    if (pod.addresses.empty()) return uint32_t{0};  // not started yet: nothing to look for
    if (uint32_t ifindex = PodInterface(routes, pod.addresses)) return ifindex;
    absl::StatusOr<uint32_t> behind_bridge = PodInterfaceFromNetns(cgroup, pod.addresses);
    if (behind_bridge.ok()) return *behind_bridge;
    ++scanned_without_interface_;
    log_.Debug("pod ", key, ": no interface (", behind_bridge.status().message(), ")");
    return uint32_t{0};
  };
  for (const auto& [key, pod] : want.pods) {
    auto path = common::FindPodCgroup(kubepods, pod.uid);
    if (!path) {
      ++scanned_missing_;  // not started yet (or already gone): its processes stay unknown
      continue;
    }
    auto id = common::CgroupId(*path);
    if (!id.ok()) continue;
    scanned_local_.push_back(LocalPod{key, *id, interface_of(key, pod, *path)});
    scanned_paths_[key] = *path;
  }
  scanned_for_ = std::move(looking_for);
  return scanned_local_;
}

absl::StatusOr<bool> NodeAgent::ReconcileLocked() {
  nodestate::NodeState fallback;
  fallback.node = opts_.node;
  fallback.pool = opts_.pool;
  fallback.allowances = opts_.allowances;
  const nodestate::NodeState& want = desired_ ? *desired_ : fallback;
  if (desired_) NotePool(want.pool);
  // Pod cgroups come and go far less often than ticks: with nothing new to apply, rescan them
  // once a second (a pod whose cgroup is not seen yet stays unknown, denied, meanwhile).
  if (applied_ && !applied_inputs_.empty() && applied_inputs_.front().second == desired_gen_ &&
      std::chrono::steady_clock::now() - last_scan_ < std::chrono::seconds(1)) {
    return false;
  }
  WD_ASSIGN_OR_RETURN(common::KubepodsCgroup kubepods, common::FindKubepods(opts_.cgroup_root));
  const std::vector<LocalPod>& local = ScanPods(want, kubepods);
  stats_.local_pods = local.size();
  stats_.pods_without_cgroup = scanned_missing_;
  stats_.pods_without_interface = scanned_without_interface_;
  // Nothing changed since the last apply (the common tick): no tables to build or compare.
  std::vector<std::pair<std::string, uint64_t>> inputs;
  inputs.reserve(local.size() + 1);
  inputs.emplace_back(absl::StrCat(":kubepods:", kubepods.id, ":", kubepods.level), desired_gen_);
  for (const auto& lp : local) {
    inputs.emplace_back(lp.key, lp.cgroup_id);
    inputs.emplace_back(":if", lp.ifindex);
  }
  if (applied_ && inputs == applied_inputs_) return false;
  return ApplyTables(want, local, kubepods, std::move(inputs));
}

absl::StatusOr<bool> NodeAgent::ApplyTables(const nodestate::NodeState& want,
                                            const std::vector<LocalPod>& local,
                                            const common::KubepodsCgroup& kubepods,
                                            std::vector<std::pair<std::string, uint64_t>> inputs) {
  datapath::TableChanges changes;
  // With tables in force, patch them in place (an update costs what it changes) and keep how
  // to put them back; otherwise build them.
  const bool patch = applied_.has_value();  // built_from_ is set whenever applied_ is
  TablesUndo undo;
  std::optional<datapath::NodeTables> built;
  if (patch) {
    PatchNodeTables(want, local, want.allowances, *built_from_, &*applied_, &changes, &undo);
  } else {
    built = BuildNodeTables(want, local, want.allowances, nullptr, nullptr, &changes);
  }
  const datapath::NodeTables& tables = patch ? *applied_ : *built;
  datapath::NodeConfig cfg = NodeConfigFor(kubepods, want.pool, opts_.unknown_pod);
  cfg.forwarder = ForwarderConfig(opts_.forwarding, want);
  if (patch && undo.Unchanged(tables) && datapath::SameConfig(applied_config_, cfg)) {
    built_from_ = want;
    applied_inputs_ = std::move(inputs);
    state_in_force_ = desired_.has_value();
    if (opts_.on_applied) opts_.on_applied(want, pod_by_cgroup_);
    return false;
  }
  absl::Status st = dp_->Apply(tables, cfg, &changes);
  if (absl::IsResourceExhausted(st)) {
    // Too much for a table as it is: grow it and try again; if it cannot grow, the first error
    // (which table, how much) stands, with why it could not.
    if (absl::Status grown = GrowTables(tables); grown.ok()) {
      st = dp_->Apply(tables, cfg, &changes);
    } else {
      st = absl::ResourceExhaustedError(absl::StrCat(st.message(), "; ", grown.message()));
    }
  }
  if (!st.ok()) {
    ++stats_.apply_errors;
    // The tables in force stay as they were, and so does what the agent says is in force.
    if (patch) RestoreNodeTables(&*applied_, std::move(undo));
    return st;
  }
  if (!changes.known || dp_->last_written() > kIdleCopyLagLimit) {
    // A full build or a large change (the first state, say, which may also come as a patch of
    // a saved state): the other copy lags by as much, and the next update, however small, would
    // write all of it (1 s at 110,000 pod addresses, where a policy change takes milliseconds).
    // Bring the other copy up to date as well, now. A small lag is written with the next
    // update, which saves a second flip (and its grace period) on every pod change.
    datapath::TableChanges none;
    none.known = true;
    none.ipcache = false;
    if (auto st = dp_->Apply(tables, cfg, &none); !st.ok())
      log_.Warning("writing the idle copy: ", st.message(), " (the next update writes it)");
  }
  if (!patch) applied_ = std::move(*built);
  built_from_ = want;
  state_in_force_ = desired_.has_value();
  applied_config_ = cfg;
  applied_inputs_ = std::move(inputs);
  pod_by_cgroup_.clear();
  for (const auto& lp : local) pod_by_cgroup_[lp.cgroup_id] = lp.key;
  if (opts_.on_applied) opts_.on_applied(want, pod_by_cgroup_);
  SyncInterfaces();
  ++stats_.applies;
  stats_.last_apply_unix_ms = NowNs(CLOCK_REALTIME) / 1000000;
  if (auto c = dp_->ReadConfig(); c.ok()) stats_.generation = c->generation;
  return true;
}

// The interface programs on exactly the interfaces of the tables in force: attached after the
// tables name the interface's pod (a packet meeting the program before its entry would be
// refused as an unknown interface), taken off interfaces whose pods are gone. Attaching adopts
// what an earlier agent pinned. An interface the programs stay on without an entry (a failed
// detach) refuses everything: fail closed, and only a gone pod's.
void NodeAgent::SyncInterfaces() {
  absl::flat_hash_set<uint32_t> want;
  for (const auto& [ifindex, iface] : applied_->ifaces) want.insert(ifindex);
  for (uint32_t ifindex : want) {
    if (attached_ifaces_.contains(ifindex)) continue;
    auto a = dp_->AttachInterface(ifindex);
    if (!a.ok()) {
      log_.Warning("interface ", ifindex, ": ", a.status().message(),
                   " (its pod's sockets stay judged by the cgroup programs)");
      continue;
    }
    attached_ifaces_.insert(ifindex);
    log_.Debug(a->replaced ? "adopted" : "attached", " the interface programs on interface ",
               ifindex, a->tcx ? " (tcx)" : " (clsact)");
  }
  absl::flat_hash_set<uint32_t> gone;
  for (uint32_t ifindex : attached_ifaces_)
    if (!want.contains(ifindex)) gone.insert(ifindex);
  for (uint32_t ifindex : dp_->PinnedInterfaces())
    if (!want.contains(ifindex)) gone.insert(ifindex);
  for (uint32_t ifindex : gone) {
    if (auto st = dp_->DetachInterface(ifindex); !st.ok()) {
      log_.Warning("interface ", ifindex, ": ", st.message());
      continue;
    }
    attached_ifaces_.erase(ifindex);
  }
  stats_.interfaces = attached_ifaces_.size();
}

absl::Status NodeAgent::Start() {
  // Serving from the start: a readiness probe sees why the agent is not ready yet (loading the
  // programs takes seconds) rather than a refused connection.
  if (!opts_.metrics_address.empty()) {
    auto http = common::HttpServer::Start(opts_.metrics_address, [this](const std::string& path) {
      if (path == "/ready") {
        std::string why;
        if (Ready(&why)) return common::HttpResponse{200, "text/plain", "ready\n"};
        return common::HttpResponse{503, "text/plain", why + "\n"};
      }
      if (path != "/metrics") return common::HttpResponse{404, "text/plain", "not found\n"};
      // The source's metrics are its own only once it has started.
      if (!started_) return common::HttpResponse{503, "text/plain", "starting\n"};
      return common::HttpResponse{200, "text/plain; version=0.0.4", RenderMetrics()};
    });
    WD_ASSIGN_OR_RETURN(http_, std::move(http));
  }
  if (!dp_) WD_RETURN_IF_ERROR(OpenDatapath());
  if (!previewed_) {
    if (std::optional<nodestate::NodeState> initial = source_->Initial()) {
      std::lock_guard<std::mutex> l(mu_);
      desired_ = std::move(*initial);
      ++desired_gen_;
    }
  }
  WD_ASSIGN_OR_RETURN(wd_config cfg, dp_->ReadConfig());
  // With no state to enforce, tables an earlier agent left in force stay untouched until the
  // source delivers; fresh tables start empty (every pod unknown: fail closed).
  if (desired_ || !cfg.configured) {
    WD_RETURN_IF_ERROR(Reconcile().status());
  } else {
    keep_existing_ = true;
    log_.Info("no desired state yet: keeping generation ", cfg.generation, " in force");
  }
  WD_ASSIGN_OR_RETURN(std::vector<datapath::AttachPoint> attached, dp_->Attach());
  attached_ = true;
  int adopted = 0;
  for (const auto& ap : attached) adopted += ap.adopted;
  // Loading the programs parsed the kernel's BTF (megabytes, freed since) and the first
  // reconcile built the whole cluster state: hand the freed heap back to the kernel, or the
  // agent keeps its start-up peak as resident memory on every node for good.
  malloc_trim(0);
  log_.Info(adopted ? "adopted " : "attached ", attached.size(), " programs on ", opts_.cgroup_root,
            " (", stats_.local_pods.load(), " local pods, generation ", stats_.generation.load(),
            ")");
  source_->Start([this](const nodestate::NodeState& d) { return Enforce(d); });
  started_ = true;
  return absl::OkStatus();
}

bool NodeAgent::Ready(std::string* why) const {
  if (!attached_) {
    *why = "not ready: the programs are not attached yet";
    return false;
  }
  if (!state_in_force_) {
    *why =
        "not ready: no desired state in force yet (none from the control plane, no saved state, "
        "or the manifests do not compile); pods stay denied as unknown, or an earlier agent's "
        "tables stay in force";
    return false;
  }
  return true;
}

void NodeAgent::DrainEvents(int timeout_ms) {
  int64_t offset = NowNs(CLOCK_REALTIME) - NowNs(CLOCK_MONOTONIC);
  std::vector<wd_event> events;
  std::shared_ptr<datapath::BpfDatapath> dp = Datapath();
  auto st = dp->PollEvents(timeout_ms, [&](const wd_event& e) { events.push_back(e); });
  if (!st.ok()) log_.Warning("reading events: ", st.message());
  if (events.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  EventContext ctx{opts_.node, desired_ ? &*desired_ : nullptr, &pod_by_cgroup_};
  for (const auto& e : events) {
    ++stats_.events;
    std::string line = VerdictLogLine(e, static_cast<int64_t>(e.timestamp_ns) + offset, ctx);
    fprintf(log_file_, "%s\n", line.c_str());
  }
  fflush(log_file_);
}

void NodeAgent::LogLine(const std::string& line) {
  // One stdio call per line (stdio locks the stream for it), then flushed: lines never mix.
  fprintf(log_file_, "%s\n", line.c_str());
  fflush(log_file_);
}

void NodeAgent::CheckCapabilities() {
  std::vector<std::pair<std::string, std::string>> pods;
  {
    std::lock_guard<std::mutex> l(mu_);
    pods.assign(scanned_paths_.begin(), scanned_paths_.end());
  }
  capabilities_.Check(pods);  // reads /proc: outside the lock
}

void NodeAgent::Run(const std::atomic<bool>& stop) {
  auto last_check = std::chrono::steady_clock::time_point{};
  while (!stop.load()) {
    source_->Tick();
    auto r = Reconcile();
    if (!r.ok()) log_.Warning("keeping the tables in force: ", r.status().message());
    if (std::chrono::steady_clock::now() - last_check >= std::chrono::seconds(10)) {
      CheckCapabilities();
      last_check = std::chrono::steady_clock::now();
    }
    DrainEvents(opts_.interval_ms);
  }
}

std::string NodeAgent::RenderMetrics() const {
  std::string out;
  std::string node = absl::StrCat("node=\"", opts_.node, "\"");
  absl::StrAppend(&out,
                  "# HELP warden_verdicts_total Packets and connects judged by the datapath.\n",
                  "# TYPE warden_verdicts_total counter\n");
  std::shared_ptr<datapath::BpfDatapath> dp = Datapath();
  if (auto c = dp->ReadCounters(); c.ok()) {
    for (uint8_t hook = 0; hook < WD_HOOK_COUNT; ++hook) {
      for (uint8_t reason = 0; reason < WD_REASON_COUNT; ++reason) {
        bool allow = WD_REASON_ALLOWS(reason);
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
  gauge("warden_table_grows_total",
        "Times the tables grew (new, larger maps under the programs) to hold a state.", "counter",
        stats_.table_grows.load());
  const datapath::Capacity cap = dp->capacity();
  absl::StrAppend(&out,
                  "# HELP warden_table_capacity Entries each copy of a verdict table holds.\n"
                  "# TYPE warden_table_capacity gauge\n");
  for (const datapath::TableMap& t : datapath::kTableMaps)
    absl::StrAppend(&out, "warden_table_capacity{", node, ",table=\"", t.base, "\"} ", cap.*t.field,
                    "\n");
  gauge("warden_manifest_loads_total", "Desired states put in force.", "counter",
        stats_.desired_states.load());
  gauge("warden_local_pods", "Pods on this node with a known cgroup.", "gauge",
        stats_.local_pods.load());
  gauge("warden_pod_interfaces", "Local pods' interfaces the interface programs judge.", "gauge",
        stats_.interfaces.load());
  gauge("warden_pods_without_interface",
        "Local pods with an address of their own whose interface was not found (the interface "
        "programs do not judge them).",
        "gauge", stats_.pods_without_interface.load());
  gauge("warden_pods_without_cgroup", "Pods scheduled here whose cgroup is not there.", "gauge",
        stats_.pods_without_cgroup.load());
  gauge("warden_events_total", "Verdict events logged.", "counter", stats_.events.load());
  gauge("warden_last_apply_timestamp_ms", "Wall-clock time of the last table update.", "gauge",
        static_cast<uint64_t>(stats_.last_apply_unix_ms.load()));
  capabilities_.AppendMetrics(node, &out);
  source_->AppendMetrics(node, &out);
  if (opts_.extra_metrics) opts_.extra_metrics(node, &out);
  return out;
}

}  // namespace warden::node
