#include "agent/datapath/bpf_datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/datapath/errno_status.h"
#include "warden.skel.h"

namespace warden::datapath {

namespace {

namespace fs = std::filesystem;

// A fresh seed for the per-CPU verdict cache's hash with every generation (warden_vcache.h),
// so that nobody can pick keys whose slots collide in a useful way. Never 0 only by chance.
uint32_t VcacheSeed() {
  uint32_t seed = 0;
  if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
    seed = static_cast<uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  return seed;
}

bool IsBpffs(const std::string& path) {
  struct statfs st;
  return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Makes sure `dir` lives on a bpffs, mounting /sys/fs/bpf if that is where it should be.
absl::Status EnsureBpffs(const std::string& dir) {
  fs::path p = fs::absolute(dir);
  fs::path probe = p;
  while (!fs::exists(probe) && probe.has_parent_path() && probe != probe.parent_path())
    probe = probe.parent_path();
  if (!IsBpffs(probe.string())) {
    if (p.string().rfind("/sys/fs/bpf", 0) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("--bpffs ", dir, " is not on a bpf filesystem"));
    }
    if (mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr) != 0 && errno != EBUSY) {
      return Errno("mounting bpffs on /sys/fs/bpf", errno);
    }
    if (!IsBpffs("/sys/fs/bpf"))
      return absl::FailedPreconditionError("/sys/fs/bpf is not a bpf filesystem");
  }
  std::error_code ec;
  fs::create_directories(p / "links", ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("creating ", (p / "links").string(), ": ", ec.message()));
  return absl::OkStatus();
}

const char* SideSuffix(int side) { return side ? "_b" : "_a"; }

absl::StatusOr<uint32_t> MaxEntries(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return Errno("reading map info", errno);
  return info.max_entries;
}

// The size of the map pinned at `path`, or 0 when none is.
uint32_t PinnedMaxEntries(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return 0;
  absl::StatusOr<uint32_t> n = MaxEntries(fd);
  close(fd);
  return n.ok() ? *n : 0;
}

template <typename K, typename V, typename Fn>
absl::Status ForEachEntry(int fd, Fn fn) {
  K key, next;
  V value;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    if (bpf_map_lookup_elem(fd, &next, &value) == 0) fn(next, value);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return Errno("iterating a map", errno);
  return absl::OkStatus();
}

absl::Status Update(int fd, const void* k, const void* v, const char* what) {
  if (bpf_map_update_elem(fd, k, v, BPF_ANY) != 0) {
    int err = errno;
    if (err == E2BIG || err == ENOMEM || err == ENOSPC) {
      return absl::ResourceExhaustedError(
          absl::StrCat("map ", what, " is full: ", std::strerror(err)));
    }
    return Errno(absl::StrCat("writing map ", what), err);
  }
  return absl::OkStatus();
}

absl::Status Delete(int fd, const void* k, const char* what) {
  if (bpf_map_delete_elem(fd, k) != 0 && errno != ENOENT)
    return Errno(absl::StrCat("deleting from map ", what), errno);
  return absl::OkStatus();
}

// Makes a keyed map equal to `want`, given what it holds (`have`).
template <typename K, typename V, typename KeyOf>
absl::Status Sync(int fd, const char* what, const absl::flat_hash_map<K, V>& have,
                  const absl::flat_hash_map<K, V>& want, KeyOf key_of, size_t* written) {
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it != have.end() && SameBytes(it->second, v)) continue;
    ++*written;
    WD_RETURN_IF_ERROR(Update(fd, key_of(k), &v, what));
  }
  for (const auto& [k, v] : have) {
    if (!want.count(k)) {
      ++*written;
      WD_RETURN_IF_ERROR(Delete(fd, key_of(k), what));
    }
  }
  return absl::OkStatus();
}

using IpcacheMap = absl::flat_hash_map<Raw<wd_ipcache_key>, wd_ipcache_value>;

// Full-length prefixes (pod and node addresses) live in the exact-match wd_iphost hash, the
// rest in the wd_ipcache LPM trie; the programs try the hash first (bpf/warden_verdict.h).
void SplitIpcache(const IpcacheMap& all, IpcacheMap* host, IpcacheMap* prefixes) {
  for (const auto& [k, v] : all) (IsHostPrefix(k.v) ? host : prefixes)->emplace(k, v);
}

// The maps of one copy of the verdict tables.
struct SideFds {
  int endpoints = -1, iphost = -1, ipcache = -1, policy = -1, portsets = -1, portranges = -1,
      lockdown = -1, ifaces = -1;
};

// Reads one copy of the tables. Port sets: those up to the highest id the policy and lockdown
// entries refer to, and the range runs of those sets (an array holds all of its entries: the
// rest is of sets no entry names).
absl::Status ReadTables(const SideFds& fds, const Capacity& capacity, NodeTables* t) {
  WD_RETURN_IF_ERROR((ForEachEntry<uint64_t, wd_endpoint>(
      fds.endpoints, [&](uint64_t k, const wd_endpoint& v) { t->endpoints[k] = v; })));
  auto put = [&](const wd_ipcache_key& k, const wd_ipcache_value& v) { t->ipcache[k] = v; };
  WD_RETURN_IF_ERROR((ForEachEntry<wd_ipcache_key, wd_ipcache_value>(fds.iphost, put)));
  WD_RETURN_IF_ERROR((ForEachEntry<wd_ipcache_key, wd_ipcache_value>(fds.ipcache, put)));
  WD_RETURN_IF_ERROR((ForEachEntry<wd_policy_key, wd_policy_value>(
      fds.policy, [&](const wd_policy_key& k, const wd_policy_value& v) { t->policy[k] = v; })));
  WD_RETURN_IF_ERROR((ForEachEntry<wd_ipcache_key, wd_policy_value>(
      fds.lockdown,
      [&](const wd_ipcache_key& k, const wd_policy_value& v) { t->lockdown[k] = v; })));
  WD_RETURN_IF_ERROR((ForEachEntry<uint32_t, wd_iface>(
      fds.ifaces, [&](uint32_t k, const wd_iface& v) { t->ifaces[k] = v; })));
  uint32_t max_set = WD_PORTSET_ALL;
  auto note = [&](const wd_policy_value& v) {
    for (uint16_t x : v.portset) max_set = std::max<uint32_t>(max_set, x);
  };
  for (const auto& [k, v] : t->policy) note(v);
  for (const auto& [k, v] : t->lockdown) note(v);
  const uint32_t portsets = std::min(max_set + 1, capacity.portsets);
  t->portsets.resize(portsets);
  uint64_t ranges = 0;
  for (uint32_t i = 0; i < portsets; ++i) {
    if (bpf_map_lookup_elem(fds.portsets, &i, &t->portsets[i]) != 0)
      return Errno("reading wd_portsets", errno);
    const wd_portset& s = t->portsets[i];
    if (s.count > WD_PORTSET_INLINE)
      ranges = std::max<uint64_t>(ranges, uint64_t{s.first} + s.count);
  }
  t->portranges.resize(std::min<uint64_t>(ranges, capacity.portranges));
  for (uint32_t i = 0; i < t->portranges.size(); ++i) {
    if (bpf_map_lookup_elem(fds.portranges, &i, &t->portranges[i]) != 0)
      return Errno("reading wd_portranges", errno);
  }
  return absl::OkStatus();
}

// A per-CPU array of counters, summed over CPUs.
absl::Status SumPerCpu(int fd, uint64_t* out, uint32_t n) {
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return Errno("counting CPUs", -ncpu);
  std::vector<uint64_t> per_cpu(ncpu);
  for (uint32_t i = 0; i < n; ++i) {
    if (bpf_map_lookup_elem(fd, &i, per_cpu.data()) != 0) return Errno("reading counters", errno);
    out[i] = 0;
    for (uint64_t v : per_cpu) out[i] += v;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpfDatapath>> BpfDatapath::Open(const Options& opts) {
  return OpenObject(opts, nullptr);
}

absl::StatusOr<std::unique_ptr<BpfDatapath>> BpfDatapath::OpenObject(const Options& opts,
                                                                     const Capacity* grow) {
  if (opts.bpffs_dir.empty()) return absl::InvalidArgumentError("--bpffs: a directory is required");
  WD_RETURN_IF_ERROR(EnsureBpffs(opts.bpffs_dir));
  std::unique_ptr<BpfDatapath> dp(new BpfDatapath(opts));
  dp->opts_.bpffs_dir = fs::absolute(opts.bpffs_dir).string();

  LIBBPF_OPTS(bpf_object_open_opts, oo, .pin_root_path = dp->opts_.bpffs_dir.c_str());
  dp->skel_ = warden_bpf__open_opts(&oo);
  if (!dp->skel_) return Errno("opening the BPF object", errno);
  // Each table's size: a pinned map keeps its own (libbpf reuses a pin only of the same size);
  // else the option's, else the compiled one. Growing, a table made larger is a new map, left
  // unpinned until Grow has moved the programs onto it.
  for (const TableMap& t : kTableMaps) {
    for (int side = 0; side < 2; ++side) {
      std::string name = absl::StrCat(t.base, SideSuffix(side));
      bpf_map* m = bpf_object__find_map_by_name(dp->skel_->obj, name.c_str());
      if (!m) return absl::InternalError(absl::StrCat("no map ", name, " in the BPF object"));
      std::string pin = absl::StrCat(dp->opts_.bpffs_dir, "/", name);
      uint32_t n = PinnedMaxEntries(pin);
      if (!n) n = opts.capacity.*t.field;
      if (grow && grow->*t.field > n) {
        n = grow->*t.field;
        if (bpf_map__set_pin_path(m, nullptr) != 0)
          return Errno(absl::StrCat("unpinning ", name), errno);
        dp->unpinned_.push_back(name);
      }
      if (n && bpf_map__set_max_entries(m, n) != 0)
        return Errno(absl::StrCat("resizing ", name), errno);
    }
  }
  if (int err = warden_bpf__load(dp->skel_); err != 0) {
    return Errno(absl::StrCat("loading the BPF programs (pinned maps under ", dp->opts_.bpffs_dir,
                              " that do not match this version must be removed)"),
                 -err);
  }
  for (const TableMap& t : kTableMaps) {
    bpf_map* m = bpf_object__find_map_by_name(dp->skel_->obj, absl::StrCat(t.base, "_a").c_str());
    dp->capacity_.*t.field = m ? bpf_map__max_entries(m) : 0u;
  }
  return dp;
}

absl::StatusOr<std::unique_ptr<BpfDatapath>> BpfDatapath::Grow(const Capacity& want) {
  WD_ASSIGN_OR_RETURN(std::unique_ptr<BpfDatapath> next, OpenObject(opts_, &want));
  // The live copy's contents (as this datapath last wrote them, else read back) into the new
  // maps of the live side (the maps both share already hold them: nothing is written there).
  // The idle side is the next Apply's to write.
  WD_ASSIGN_OR_RETURN(wd_config cfg, ReadConfig());
  const int live = cfg.configured ? cfg.active : 0;
  if (!mirror_[live]) {
    WD_ASSIGN_OR_RETURN(mirror_[live], ReadSide(live));
  }
  WD_RETURN_IF_ERROR(next->WriteSide(live, *mirror_[live], nullptr));
  // The new maps pinned beside the old ones first (a failure here changes nothing), then the
  // programs: every link this datapath's agents pinned runs the new ones (where that fails,
  // this one's go back), then the new pins take the old ones' names.
  std::vector<std::pair<std::string, std::string>> renames;  // staged pin -> its name
  for (const std::string& name : next->unpinned_) {
    std::string pin = absl::StrCat(opts_.bpffs_dir, "/", name);
    std::string staged = pin + "_grown";  // bpffs names may not hold a dot
    bpf_map* m = bpf_object__find_map_by_name(next->skel_->obj, name.c_str());
    unlink(staged.c_str());  // left by a Grow that stopped halfway
    if (!m || bpf_map__pin(m, staged.c_str()) != 0) {
      absl::Status st = Errno("pinning " + staged, errno);
      for (const auto& [done, _] : renames) unlink(done.c_str());
      return st;
    }
    renames.emplace_back(staged, pin);
  }
  std::vector<uint32_t> interfaces = PinnedInterfaces();
  bool cgroup_links = false;
  for (const char* name : kProgramNames) {
    if (access(absl::StrCat(opts_.bpffs_dir, "/links/", name).c_str(), F_OK) == 0)
      cgroup_links = true;
  }
  absl::Status moved = cgroup_links ? next->Attach().status() : absl::OkStatus();
  for (size_t i = 0; moved.ok() && i < interfaces.size(); ++i)
    moved = next->AttachInterface(interfaces[i]).status();
  if (!moved.ok()) {
    if (cgroup_links) Attach().IgnoreError();
    for (uint32_t ifindex : interfaces) AttachInterface(ifindex).IgnoreError();
    for (const auto& [staged, pin] : renames) unlink(staged.c_str());
    return moved;
  }
  // From here the new maps are in use: nothing may fail any more. (rename replaces the old pin
  // in one step; were it to fail, the map stays pinned as _grown and the next agent, finding
  // the old pin, starts from the old map's contents until its first update.)
  for (const auto& [staged, pin] : renames) rename(staged.c_str(), pin.c_str());
  next->unpinned_.clear();
  next->last_flip_ = last_flip_;
  return next;
}

BpfDatapath::~BpfDatapath() {
  if (rb_) ring_buffer__free(rb_);
  if (skel_) warden_bpf__destroy(skel_);
}

int BpfDatapath::ProgramFd(const std::string& name) const {
  bpf_program* p = bpf_object__find_program_by_name(skel_->obj, name.c_str());
  return p ? bpf_program__fd(p) : -1;
}

int BpfDatapath::MapFd(const std::string& name) const {
  bpf_map* m = bpf_object__find_map_by_name(skel_->obj, name.c_str());
  return m ? bpf_map__fd(m) : -1;
}

absl::StatusOr<std::vector<AttachPoint>> BpfDatapath::Attach() {
  if (opts_.cgroup_path.empty()) return absl::InvalidArgumentError("no cgroup to attach to");
  int cg = open(opts_.cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) return Errno(absl::StrCat("opening cgroup ", opts_.cgroup_path), errno);
  std::vector<AttachPoint> out;
  absl::Status status;
  for (const char* name : kProgramNames) {
    bpf_program* prog = bpf_object__find_program_by_name(skel_->obj, name);
    std::string pin = absl::StrCat(opts_.bpffs_dir, "/links/", name);
    AttachPoint ap{name, pin, false};
    bpf_link* link = nullptr;
    if (access(pin.c_str(), F_OK) == 0) {
      link = bpf_link__open(pin.c_str());
      if (link && bpf_link__update_program(link, prog) == 0) {
        ap.adopted = true;
      } else {
        status = Errno(absl::StrCat("adopting the pinned link ", pin), errno);
        if (link) bpf_link__destroy(link);
        break;
      }
    } else {
      link = bpf_program__attach_cgroup(prog, cg);
      if (!link) {
        status = Errno(absl::StrCat("attaching ", name, " to ", opts_.cgroup_path), errno);
        break;
      }
      if (bpf_link__pin(link, pin.c_str()) != 0) {
        status = Errno(absl::StrCat("pinning ", pin), errno);
        bpf_link__destroy(link);
        break;
      }
    }
    // The pin keeps the link (and the enforcement) alive after this process exits. Destroying
    // the bpf_link closes only our fd (no bpf_link__disconnect, which would leak the fd and keep
    // the programs attached until this process exits even after the pin is removed).
    bpf_link__destroy(link);
    out.push_back(ap);
  }
  close(cg);
  if (!status.ok()) return status;
  return out;
}

absl::Status BpfDatapath::DetachAndUnpin() {
  for (const char* name : kProgramNames) {
    std::string pin = absl::StrCat(opts_.bpffs_dir, "/links/", name);
    if (unlink(pin.c_str()) != 0 && errno != ENOENT)
      return Errno(absl::StrCat("removing ", pin), errno);
  }
  // The interfaces either copy of the tables names, and those whose links are pinned: where an
  // agent of these pins attached the interface programs.
  absl::flat_hash_set<uint32_t> interfaces;
  for (int side = 0; side < 2; ++side) {
    auto t = ReadSide(side);
    if (!t.ok()) return t.status();
    for (const auto& [ifindex, iface] : t->ifaces) interfaces.insert(ifindex);
  }
  for (uint32_t ifindex : PinnedInterfaces()) interfaces.insert(ifindex);
  for (uint32_t ifindex : interfaces) WD_RETURN_IF_ERROR(DetachInterface(ifindex));
  bpf_map* m;
  bpf_object__for_each_map(m, skel_->obj) {
    // Another user of the same pins (a second datapath on the directory) may have gone first.
    if (!bpf_map__is_pinned(m)) continue;
    if (int err = bpf_map__unpin(m, nullptr); err != 0 && err != -ENOENT) {
      return Errno(absl::StrCat("unpinning map ", bpf_map__name(m)), -err);
    }
  }
  rmdir((opts_.bpffs_dir + "/links").c_str());
  rmdir(opts_.bpffs_dir.c_str());
  return absl::OkStatus();
}

absl::StatusOr<wd_config> BpfDatapath::ReadConfig() const {
  uint32_t zero = 0;
  wd_config cfg;
  if (bpf_map_lookup_elem(MapFd("wd_config"), &zero, &cfg) != 0)
    return Errno("reading wd_config", errno);
  return cfg;
}

absl::StatusOr<NodeTables> BpfDatapath::ReadSide(int side) const {
  auto fd = [&](const char* base) { return MapFd(absl::StrCat(base, SideSuffix(side))); };
  SideFds fds{fd("wd_endpoints"), fd("wd_iphost"),     fd("wd_ipcache"),  fd("wd_policy"),
              fd("wd_portsets"),  fd("wd_portranges"), fd("wd_lockdown"), fd("wd_ifaces")};
  NodeTables t;
  WD_RETURN_IF_ERROR(ReadTables(fds, capacity_, &t));
  return t;
}

absl::StatusOr<NodeTables> BpfDatapath::ReadLiveTables() const {
  WD_ASSIGN_OR_RETURN(wd_config cfg, ReadConfig());
  return ReadSide(cfg.active);
}

absl::Status BpfDatapath::CheckFits(const NodeTables& t) const {
  return Fits(capacity_, NeedsOf(t));
}

namespace {

// Writes the array entries that differ (port sets, their ranges). First: the other tables refer
// to them.
template <typename T>
absl::Status WriteArray(int fd, const char* name, const std::vector<T>& have,
                        const std::vector<T>& want, size_t* written) {
  for (uint32_t i = 0; i < want.size(); ++i) {
    if (i < have.size() && SameBytes(have[i], want[i])) continue;
    ++*written;
    WD_RETURN_IF_ERROR(Update(fd, &i, &want[i], name));
  }
  return absl::OkStatus();
}

// What an array holds after WriteArray: `want`, then what lay beyond it before.
template <typename T>
std::vector<T> AfterWrite(const std::vector<T>& before, const std::vector<T>& want) {
  std::vector<T> now = want;
  if (before.size() > want.size())
    now.insert(now.end(), before.begin() + want.size(), before.end());
  return now;
}

// Full-length prefixes into the host hash, the rest into the LPM trie.
absl::Status WriteIpcache(int host_fd, int lpm_fd, const IpcacheMap& have, const IpcacheMap& want,
                          size_t* written) {
  IpcacheMap host_have, lpm_have, host_want, lpm_want;
  SplitIpcache(have, &host_have, &lpm_have);
  SplitIpcache(want, &host_want, &lpm_want);
  auto key_of = [](const Raw<wd_ipcache_key>& k) { return &k.v; };
  WD_RETURN_IF_ERROR(Sync(host_fd, "wd_iphost", host_have, host_want, key_of, written));
  return Sync(lpm_fd, "wd_ipcache", lpm_have, lpm_want, key_of, written);
}

// Writes only `keys` (those the last two updates changed), patching `have` to match.
absl::Status WritePolicyKeys(int fd, const absl::flat_hash_set<Raw<wd_policy_key>>& keys,
                             const NodeTables::PolicyMap& want, NodeTables::PolicyMap* have,
                             size_t* written) {
  for (const auto& k : keys) {
    auto w = want.find(k);
    auto h = have->find(k);
    if (w != want.end()) {
      if (h != have->end() && SameBytes(h->second, w->second)) continue;
      ++*written;
      WD_RETURN_IF_ERROR(Update(fd, &k.v, &w->second, "wd_policy"));
      (*have)[k] = w->second;
    } else if (h != have->end()) {
      ++*written;
      WD_RETURN_IF_ERROR(Delete(fd, &k.v, "wd_policy"));
      have->erase(h);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status BpfDatapath::WriteSide(int side, const NodeTables& t, const TableChanges* changes) {
  WD_RETURN_IF_ERROR(CheckFits(t));
  if (!mirror_[side]) {
    WD_ASSIGN_OR_RETURN(mirror_[side], ReadSide(side));
  }
  auto fd = [&](const char* base) { return MapFd(absl::StrCat(base, SideSuffix(side))); };
  // With both this update's and the previous one's changes known, only what they changed can
  // differ between the idle copy (two updates old) and `t`.
  const bool sparse = changes && changes->known && last_changes_ && last_changes_->known;
  const bool ipcache_same = sparse && !last_changes_->ipcache && !changes->ipcache;
  // Whatever happens below, the idle copy's contents are unknown until written in full.
  NodeTables before = std::move(*mirror_[side]);
  mirror_[side].reset();
  written_ = 0;
  WD_RETURN_IF_ERROR(
      WriteArray(fd("wd_portranges"), "wd_portranges", before.portranges, t.portranges, &written_));
  WD_RETURN_IF_ERROR(
      WriteArray(fd("wd_portsets"), "wd_portsets", before.portsets, t.portsets, &written_));
  WD_RETURN_IF_ERROR(Sync(
      fd("wd_endpoints"), "wd_endpoints", before.endpoints, t.endpoints,
      [](const uint64_t& k) { return &k; }, &written_));
  if (!ipcache_same)
    WD_RETURN_IF_ERROR(
        WriteIpcache(fd("wd_iphost"), fd("wd_ipcache"), before.ipcache, t.ipcache, &written_));
  if (sparse) {
    absl::flat_hash_set<Raw<wd_policy_key>> keys(last_changes_->policy.begin(),
                                                 last_changes_->policy.end());
    keys.insert(changes->policy.begin(), changes->policy.end());
    WD_RETURN_IF_ERROR(WritePolicyKeys(fd("wd_policy"), keys, t.policy, &before.policy, &written_));
  } else {
    WD_RETURN_IF_ERROR(Sync(
        fd("wd_policy"), "wd_policy", before.policy, t.policy,
        [](const Raw<wd_policy_key>& k) { return &k.v; }, &written_));
  }
  WD_RETURN_IF_ERROR(Sync(
      fd("wd_lockdown"), "wd_lockdown", before.lockdown, t.lockdown,
      [](const Raw<wd_ipcache_key>& k) { return &k.v; }, &written_));
  WD_RETURN_IF_ERROR(Sync(
      fd("wd_ifaces"), "wd_ifaces", before.ifaces, t.ifaces, [](const uint32_t& k) { return &k; },
      &written_));
  // The copy now holds t. What `before` already holds (patched policy, untouched ipcache) is
  // moved rather than copied: the policy table is the largest.
  // (if/else, not ?:: a conditional of a moved value and a const one would copy both.)
  NodeTables now;
  now.endpoints = t.endpoints;
  if (ipcache_same) {
    now.ipcache = std::move(before.ipcache);
  } else {
    now.ipcache = t.ipcache;
  }
  now.lockdown = t.lockdown;
  now.ifaces = t.ifaces;
  if (sparse) {
    now.policy = std::move(before.policy);
  } else {
    now.policy = t.policy;
  }
  // Array entries beyond t's keep old contents in the kernel; the mirror keeps them too.
  now.portsets = AfterWrite(before.portsets, t.portsets);
  now.portranges = AfterWrite(before.portranges, t.portranges);
  mirror_[side] = std::move(now);
  return absl::OkStatus();
}

absl::Status BpfDatapath::Apply(const NodeTables& tables, const NodeConfig& config,
                                const TableChanges* changes) {
  WD_ASSIGN_OR_RETURN(wd_config cur, ReadConfig());
  int idle = cur.configured ? !cur.active : 0;
  // Programs that read the old `active` finish within microseconds; give them a grace period
  // before the copy they may still be reading is rewritten.
  auto since = std::chrono::steady_clock::now() - last_flip_;
  if (since < std::chrono::milliseconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(20) - since);
  absl::Status written = WriteSide(idle, tables, changes);
  last_changes_.reset();  // until this Apply is over: a failed one leaves nothing to build on
  if (!written.ok()) return written;
  wd_config next{};
  next.kubepods_cgroup_id = config.kubepods_cgroup_id;
  next.kubepods_level = config.kubepods_level;
  for (int i = 0; i < WD_MAX_POD_LEVELS; ++i) next.pod_levels[i] = config.pod_levels[i];
  next.generation = cur.generation + 1;
  next.configured = 1;
  next.pool = config.pool;
  next.unknown_pod = config.unknown_pod;
  next.active = static_cast<uint8_t>(idle);
  next.vcache_seed = VcacheSeed();
  const NodeConfig::Forwarder& fw = config.forwarder;
  std::memcpy(next.fwd_addr, fw.addr, sizeof(next.fwd_addr));
  next.fwd_port = fw.port;
  next.gw_port = fw.gateway_port;
  std::memcpy(next.fwd_world_ports, fw.world_ports, sizeof(next.fwd_world_ports));
  next.gw_family = fw.gateway_family;
  std::memcpy(next.gw_addr, fw.gateway_addr, sizeof(next.gw_addr));
  uint32_t zero = 0;
  if (bpf_map_update_elem(MapFd("wd_config"), &zero, &next, BPF_ANY) != 0)
    return Errno("writing wd_config", errno);
  last_flip_ = std::chrono::steady_clock::now();
  if (changes && changes->known) last_changes_ = *changes;
  return absl::OkStatus();
}

absl::StatusOr<std::array<uint64_t, WD_COUNTERS_MAX_ENTRIES>> BpfDatapath::ReadCounters() const {
  std::array<uint64_t, WD_COUNTERS_MAX_ENTRIES> out{};
  WD_RETURN_IF_ERROR(SumPerCpu(MapFd("wd_counters"), out.data(), out.size()));
  return out;
}

absl::Status BpfDatapath::PollEvents(int timeout_ms,
                                     const std::function<void(const wd_event&)>& fn) {
  if (!rb_) {
    rb_ = ring_buffer__new(
        MapFd("wd_events"),
        [](void* ctx, void* data, size_t size) -> int {
          auto* self = static_cast<BpfDatapath*>(ctx);
          if (size >= sizeof(wd_event) && self->rb_fn_) {
            wd_event e;
            std::memcpy(&e, data, sizeof(e));
            self->rb_fn_(e);
          }
          return 0;
        },
        this, nullptr);
    if (!rb_) return Errno("opening the event ring buffer", errno);
  }
  rb_fn_ = fn;
  // The programs wake the reader only when the ring fills up (BPF_RB_NO_WAKEUP otherwise), so
  // after waiting, read whatever is there.
  int n = ring_buffer__poll(rb_, timeout_ms);
  if (n >= 0) n = ring_buffer__consume(rb_);
  rb_fn_ = nullptr;
  if (n < 0 && n != -EINTR) return Errno("polling events", -n);
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> BpfDatapath::TestRun(const std::string& program,
                                              const std::vector<uint8_t>& packet, uint32_t repeat,
                                              uint32_t* avg_ns, uint32_t ifindex) const {
  int fd = ProgramFd(program);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("no program ", program));
  std::vector<uint8_t> out(packet.size() + 256);
  __sk_buff ctx{};
  ctx.ifindex = ifindex;
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = packet.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(packet.size()),
              .data_size_out = static_cast<uint32_t>(out.size()),
              .ctx_in = ifindex ? &ctx : nullptr,
              .ctx_size_in = ifindex ? static_cast<uint32_t>(sizeof(ctx)) : 0u,
              .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(fd, &o) != 0)
    return Errno(absl::StrCat("BPF_PROG_TEST_RUN of ", program), errno);
  if (avg_ns) *avg_ns = o.duration;
  return o.retval;
}

namespace {

struct PinnedFd {
  int fd = -1;
  ~PinnedFd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<ForwardRecords>> ForwardRecords::Open(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/wd_fwd_records");
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return Errno(absl::StrCat("opening pinned ", path), errno);
  return std::unique_ptr<ForwardRecords>(new ForwardRecords(fd));
}

ForwardRecords::~ForwardRecords() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<std::optional<wd_fwd_record>> ForwardRecords::Take(const wd_fwd_key& key) {
  wd_fwd_record r;
  if (bpf_map_lookup_and_delete_elem(fd_, &key, &r) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return Errno("taking a record from wd_fwd_records", errno);
  }
  return r;
}

absl::StatusOr<size_t> ForwardRecords::Count() const {
  size_t n = 0;
  WD_RETURN_IF_ERROR((ForEachEntry<wd_fwd_key, wd_fwd_record>(
      fd_, [&](const wd_fwd_key&, const wd_fwd_record&) { ++n; })));
  return n;
}

const char* AttachTypeName(uint32_t t) {
  switch (t) {
    case BPF_CGROUP_INET_EGRESS:
      return "cgroup_inet_egress";
    case BPF_CGROUP_INET_INGRESS:
      return "cgroup_inet_ingress";
    case BPF_CGROUP_INET4_CONNECT:
      return "cgroup_inet4_connect";
    case BPF_CGROUP_INET6_CONNECT:
      return "cgroup_inet6_connect";
    case BPF_CGROUP_UDP4_SENDMSG:
      return "cgroup_udp4_sendmsg";
    case BPF_CGROUP_UDP6_SENDMSG:
      return "cgroup_udp6_sendmsg";
    case BPF_CGROUP_SOCK_OPS:
      return "cgroup_sock_ops";
    case BPF_CGROUP_INET4_GETPEERNAME:
      return "cgroup_inet4_getpeername";
  }
  return "other";
}

absl::StatusOr<PinnedState> ReadPinnedState(const std::string& dir) {
  PinnedState ps;
  auto open_pin = [&](const std::string& name, PinnedFd* out) -> absl::Status {
    std::string path = absl::StrCat(dir, "/", name);
    out->fd = bpf_obj_get(path.c_str());
    if (out->fd < 0)
      return Errno(absl::StrCat("opening pinned ", path, " (is an agent using --bpffs ", dir, "?)"),
                   errno);
    return absl::OkStatus();
  };
  PinnedFd cfg_fd;
  WD_RETURN_IF_ERROR(open_pin("wd_config", &cfg_fd));
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(cfg_fd.fd, &zero, &ps.config) != 0)
    return Errno("reading wd_config", errno);
  const char* side = ps.config.active ? "_b" : "_a";
  PinnedFd ep, iph, ipc, pol, pset, prng, lock, ifs, ctr, ct, vc;
  for (auto [name, fd] : std::initializer_list<std::pair<std::string, PinnedFd*>>{
           {absl::StrCat("wd_endpoints", side), &ep},
           {absl::StrCat("wd_iphost", side), &iph},
           {absl::StrCat("wd_ipcache", side), &ipc},
           {absl::StrCat("wd_policy", side), &pol},
           {absl::StrCat("wd_portsets", side), &pset},
           {absl::StrCat("wd_portranges", side), &prng},
           {absl::StrCat("wd_lockdown", side), &lock},
           {absl::StrCat("wd_ifaces", side), &ifs},
           {"wd_counters", &ctr},
           {"wd_ct", &ct},
           {"wd_verdicts", &vc}}) {
    WD_RETURN_IF_ERROR(open_pin(name, fd));
  }
  auto cap = [](int fd) {
    auto m = MaxEntries(fd);
    return m.ok() ? *m : 0u;
  };
  ps.capacity = Capacity{cap(ep.fd),   cap(iph.fd),  cap(ipc.fd),  cap(pol.fd),
                         cap(pset.fd), cap(prng.fd), cap(lock.fd), cap(ifs.fd)};
  SideFds fds{ep.fd, iph.fd, ipc.fd, pol.fd, pset.fd, prng.fd, lock.fd, ifs.fd};
  WD_RETURN_IF_ERROR(ReadTables(fds, ps.capacity, &ps.live));
  WD_RETURN_IF_ERROR((ForEachEntry<wd_ct_key, wd_ct_value>(
      ct.fd, [&](const wd_ct_key&, const wd_ct_value&) { ++ps.conntrack_entries; })));
  WD_RETURN_IF_ERROR((ForEachEntry<wd_verdict_key, wd_verdict_value>(
      vc.fd, [&](const wd_verdict_key&, const wd_verdict_value&) { ++ps.verdict_cache_entries; })));
  SumPerCpu(ctr.fd, ps.counters.data(), ps.counters.size()).IgnoreError();  // inspect shows 0s
  for (const char* name : kProgramNames) {
    LinkState ls;
    ls.name = name;
    PinnedFd lf;
    std::string path = absl::StrCat(dir, "/links/", name);
    lf.fd = bpf_obj_get(path.c_str());
    if (lf.fd >= 0) {
      bpf_link_info info{};
      uint32_t len = sizeof(info);
      if (bpf_obj_get_info_by_fd(lf.fd, &info, &len) == 0) {
        ls.link_id = info.id;
        ls.prog_id = info.prog_id;
        ls.attach_type = info.cgroup.attach_type;
        ls.cgroup_id = info.cgroup.cgroup_id;
        PinnedFd pf;
        pf.fd = bpf_prog_get_fd_by_id(info.prog_id);
        bpf_prog_info pi{};
        uint32_t plen = sizeof(pi);
        if (pf.fd >= 0 && bpf_obj_get_info_by_fd(pf.fd, &pi, &plen) == 0) ls.prog_name = pi.name;
      }
    }
    ps.links.push_back(ls);
  }
  return ps;
}

const char* ReasonName(uint8_t reason) {
  switch (reason) {
    case WD_REASON_ALLOW_POLICY:
      return "policy-allow";
    case WD_REASON_ALLOW_NOT_ISOLATED:
      return "not-isolated";
    case WD_REASON_ALLOW_TRACKED:
      return "tracked";
    case WD_REASON_ALLOW_HOST:  // a host process, the pod's own node, or a loopback peer
      return "host-allow";
    case WD_REASON_ALLOW_UNKNOWN_POD:
      return "unknown-pod-allow";
    case WD_REASON_DENY_POLICY:
      return "policy-deny";
    case WD_REASON_DENY_POOL_LOCKDOWN:
      return "pool-lockdown";
    case WD_REASON_DENY_UNKNOWN_POD:
      return "unknown-pod";
    case WD_REASON_DENY_NOT_CONFIGURED:
      return "not-configured";
    case WD_REASON_DENY_MALFORMED:
      return "malformed";
    case WD_REASON_DENY_SPOOFED_SOURCE:
      return "spoofed-source";
    case WD_REASON_DENY_NOT_POD_ADDRESS:
      return "not-pod-address";
    case WD_REASON_DENY_PACKET_SOCKET:
      return "packet-socket";
    case WD_REASON_DENY_FRAGMENT:
      return "fragment";
    case WD_REASON_ALLOW_LINK_LOCAL:
      return "link-local";
    case WD_REASON_REDIRECT_GATEWAY:
      return "gateway-redirect";
    case WD_REASON_ALLOW_FORWARDER:
      return "forwarder";
  }
  return "unknown";
}

const char* HookName(uint8_t hook) {
  switch (hook) {
    case WD_HOOK_EGRESS:
      return "egress";
    case WD_HOOK_INGRESS:
      return "ingress";
    case WD_HOOK_CONNECT:
      return "connect";
    case WD_HOOK_SENDMSG:
      return "sendmsg";
    case WD_HOOK_IF_EGRESS:
      return "if-egress";
    case WD_HOOK_IF_INGRESS:
      return "if-ingress";
  }
  return "unknown";
}

}  // namespace warden::datapath
