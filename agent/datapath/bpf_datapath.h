// BpfDatapath: the one class that owns every libbpf call (as Katran's BpfAdapter). It loads
// Warden's programs with their maps pinned under a per-node bpffs directory, attaches them to
// the node's cgroup through pinned bpf_links (adopting the links of an earlier agent by
// replacing their program in place, so enforcement never stops), writes the verdict tables
// atomically (double-buffered: the idle copy is written, then one byte flips), and reads
// events and counters.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/datapath/node_tables.h"
#include "agent/datapath/table_capacity.h"
#include "warden_structs.h"

struct warden_bpf;
struct ring_buffer;

namespace warden::datapath {

// The cgroup programs' names, as in bpf/warden.bpf.c; also the names of their pinned links.
inline constexpr const char* kProgramNames[] = {"wd_egress",   "wd_ingress",     "wd_connect4",
                                                "wd_connect6", "wd_sendmsg4",    "wd_sendmsg6",
                                                "wd_sockops",  "wd_getpeername4"};
// The interface programs: at tc ingress of the node side of a pod's interface (what the pod
// sends) and at its tc egress (what goes to the pod).
inline constexpr const char* kInterfaceEgressProgram = "wd_if_egress";
inline constexpr const char* kInterfaceIngressProgram = "wd_if_ingress";

struct AttachPoint {
  std::string program;
  std::string link_pin;
  bool adopted = false;  // an existing pinned link had its program replaced
};

// The interface programs on one interface.
struct InterfaceAttachment {
  uint32_t ifindex = 0;
  uint32_t egress_prog_id = 0, ingress_prog_id = 0;  // 0: not attached there
  bool tcx = false;       // through pinned tcx links (else clsact filters: kernels before 6.6)
  bool replaced = false;  // AttachInterface found ours and swapped the programs in place
};

class BpfDatapath {
 public:
  struct Options {
    std::string bpffs_dir;    // maps pinned here by name; links under links/
    std::string cgroup_path;  // where the programs attach (the node's cgroup); may be empty
    // Table sizes; a 0 field: as compiled in (bpf/warden_consts.h). Maps already pinned keep
    // their size (a grown table stays grown when the next agent starts).
    Capacity capacity;
  };

  // Mounts bpffs if needed, loads the programs and creates or reuses the pinned maps.
  static absl::StatusOr<std::unique_ptr<BpfDatapath>> Open(const Options& opts);
  ~BpfDatapath();
  BpfDatapath(const BpfDatapath&) = delete;
  BpfDatapath& operator=(const BpfDatapath&) = delete;

  // Attaches every program to the cgroup, or adopts the links pinned by an earlier agent.
  absl::StatusOr<std::vector<AttachPoint>> Attach();
  // Removes the pinned links (which detaches the programs), the interface programs from the
  // interfaces of the tables (in this network namespace) and the pinned maps.
  absl::Status DetachAndUnpin();

  // The interface programs on interface `ifindex` of this process's network namespace: tcx
  // links (one per direction) pinned as <bpffs>/links/if<ifindex>-{egress,ingress}, so that they
  // stay after this process exits like the cgroup links, or on kernels without tcx clsact
  // filters at WD_TC_HANDLE/WD_TC_PRIORITY. Made if missing; those an earlier agent left there
  // have their program replaced in place (no moment without a program). A pinned link whose
  // interface is gone (its pod's network namespace deleted: the kernel detached it) is dropped
  // and made again. The interface's entry in the tables says which pod they judge.
  absl::StatusOr<InterfaceAttachment> AttachInterface(uint32_t ifindex);
  // Takes them off again; an interface that is gone has none to take off.
  absl::Status DetachInterface(uint32_t ifindex);
  // What is attached on `ifindex` (prog ids 0 when absent).
  absl::StatusOr<InterfaceAttachment> QueryInterface(uint32_t ifindex) const;
  // The interfaces whose links are pinned under <bpffs>/links (by this agent or an earlier one).
  std::vector<uint32_t> PinnedInterfaces() const;

  // Writes `tables` into the idle copy, then makes it live together with `config` and a new
  // generation (conntrack entries re-check). Fails, changing nothing live, when a table does
  // not fit.
  // `changes` (optional) says what differs from the tables of the previous Apply.
  absl::Status Apply(const NodeTables& tables, const NodeConfig& config,
                     const TableChanges* changes = nullptr);
  absl::StatusOr<wd_config> ReadConfig() const;
  Capacity capacity() const { return capacity_; }
  // Entries the last Apply wrote or deleted: by as many the other copy now lags.
  size_t last_written() const { return written_; }

  // A datapath whose tables that `want` makes larger are new maps of that size, holding what
  // the live copy holds, with its programs in place of this one's on every link (the cgroup
  // links and every pinned interface link, updated in place: no moment without a program, nor
  // with a program over empty tables), and the new maps pinned where the old ones were. This
  // one is left with no links; drop it. On failure nothing changed (the links run this one's
  // programs).
  absl::StatusOr<std::unique_ptr<BpfDatapath>> Grow(const Capacity& want);

  // Reads the live copy back from the kernel (for inspect and tests).
  absl::StatusOr<NodeTables> ReadLiveTables() const;

  // Summed over CPUs; index hook * WD_REASON_COUNT + reason.
  absl::StatusOr<std::array<uint64_t, WD_COUNTERS_MAX_ENTRIES>> ReadCounters() const;

  // Calls `fn` for each event until the ring buffer is empty or `timeout_ms` passed.
  absl::Status PollEvents(int timeout_ms, const std::function<void(const wd_event&)>& fn);

  // Runs a program on one crafted packet (Ethernet header first) with BPF_PROG_TEST_RUN;
  // returns the program's verdict (cgroup_skb: 1 pass, 0 drop; tc: -1 (as uint32) pass, 2
  // drop). `repeat` > 1 times it: *avg_ns receives the kernel's average run time. A tc program
  // sees the packet on interface `ifindex` of this network namespace (0: loopback).
  absl::StatusOr<uint32_t> TestRun(const std::string& program, const std::vector<uint8_t>& packet,
                                   uint32_t repeat = 1, uint32_t* avg_ns = nullptr,
                                   uint32_t ifindex = 0) const;

  // For attach-free tests.
  int ProgramFd(const std::string& name) const;
  int MapFd(const std::string& name) const;
  const std::string& bpffs_dir() const { return opts_.bpffs_dir; }

 private:
  explicit BpfDatapath(Options opts) : opts_(std::move(opts)) {}
  // Open()'s work; with `grow`, the table maps it makes larger are created new, not reused.
  static absl::StatusOr<std::unique_ptr<BpfDatapath>> OpenObject(const Options& opts,
                                                                 const Capacity* grow);
  absl::Status CheckFits(const NodeTables& t) const;
  absl::Status WriteSide(int side, const NodeTables& t, const TableChanges* changes);
  absl::StatusOr<NodeTables> ReadSide(int side) const;

  Options opts_;
  warden_bpf* skel_ = nullptr;
  ring_buffer* rb_ = nullptr;
  std::function<void(const wd_event&)> rb_fn_;
  Capacity capacity_;
  std::vector<std::string> unpinned_;  // maps made by Grow, pinned once they are in use
  // What each copy holds, once known; lets an update write only the difference.
  std::optional<NodeTables> mirror_[2];
  // The changes the previous Apply was told of: with the current ones, everything that can
  // differ between the idle copy (two applies old) and the new tables.
  std::optional<TableChanges> last_changes_;
  std::chrono::steady_clock::time_point last_flip_{};
  size_t written_ = 0;
};

// The node forwarder's records (bpf/warden_forward.h), from the pinned wd_fwd_records of an
// agent's bpffs directory: a redirected connection's original destination and pod, by the pod
// socket's local address and port. Opened on its own (the forwarder does not need the
// datapath's programs, and the tables' maps may be replaced by Grow; this one is not).
class ForwardRecords {
 public:
  static absl::StatusOr<std::unique_ptr<ForwardRecords>> Open(const std::string& bpffs_dir);
  ~ForwardRecords();
  ForwardRecords(const ForwardRecords&) = delete;
  ForwardRecords& operator=(const ForwardRecords&) = delete;

  // Looks the record of `key` up and deletes it, in one step (a record is taken once). nullopt
  // when there is none.
  absl::StatusOr<std::optional<wd_fwd_record>> Take(const wd_fwd_key& key);
  // Records in the map (for tests and metrics; walks it).
  absl::StatusOr<size_t> Count() const;

 private:
  explicit ForwardRecords(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// What `warden inspect` reads from an agent's pins, without loading anything.
struct LinkState {
  std::string name;
  uint32_t link_id = 0, prog_id = 0, attach_type = 0;
  uint64_t cgroup_id = 0;
  std::string prog_name;
};

struct PinnedState {
  wd_config config{};
  NodeTables live;  // its ifaces: the interfaces the agent attached the interface programs to
  std::array<uint64_t, WD_COUNTERS_MAX_ENTRIES> counters{};
  std::vector<LinkState> links;
  Capacity capacity;
  uint32_t conntrack_entries = 0;
  uint32_t verdict_cache_entries = 0;
};

absl::StatusOr<PinnedState> ReadPinnedState(const std::string& bpffs_dir);
const char* AttachTypeName(uint32_t attach_type);

const char* ReasonName(uint8_t reason);
const char* HookName(uint8_t hook);

}  // namespace warden::datapath
