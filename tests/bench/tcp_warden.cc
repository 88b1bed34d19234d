#include "tests/bench/tcp_warden.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/bench_netns.h"
#include "tests/bench/datapath_tables.h"
#include "tests/bench/raw_bpf.h"
#include "tests/lib/timing.h"

namespace warden::bench {

namespace {

wd_iface IfaceOf(uint64_t cgroup, uint32_t identity, uint32_t addr) {
  wd_iface f{};
  f.cgroup_id = cgroup;
  f.identity = identity;
  f.isolated = WD_ISOLATED_INGRESS | WD_ISOLATED_EGRESS;
  f.addrs4 = 1;
  PutIpv4(f.addr4[0], addr);
  return f;
}

}  // namespace

TcpWarden::TcpWarden(const std::string& bpffs_dir, const testlib::KubeletNode& node,
                     const Lane& lane, uint32_t client_addr, uint32_t server_addr,
                     const InterfaceLane* both) {
  datapath::BpfDatapath::Options opts;
  opts.bpffs_dir = bpffs_dir;
  opts.cgroup_path = node.root();
  dp_ = Must(datapath::BpfDatapath::Open(opts), "opening the datapath");
  const uint32_t cid = kLocalBase, sid = kLocalBase + 1;
  TableSpec spec;
  spec.policy_entries = 10000;
  spec.ipcache_remotes = 10000;
  spec.endpoints = {{lane.client_id, cid}, {lane.server_id, sid}};
  spec.extra_ipcache = {{client_addr, cid}, {server_addr, sid}};
  spec.extra_policy = {PolicyKey(cid, sid, WD_DIR_EGRESS), PolicyKey(sid, cid, WD_DIR_INGRESS)};
  const uint32_t cid2 = kLocalBase + 2, sid2 = kLocalBase + 3;
  if (both) {
    both_ = *both;
    spec.endpoints.push_back({both->lane.client_id, cid2});
    spec.endpoints.push_back({both->lane.server_id, sid2});
    spec.extra_ipcache.push_back({both->client_addr, cid2});
    spec.extra_ipcache.push_back({both->server_addr, sid2});
    spec.extra_policy.push_back(PolicyKey(cid2, sid2, WD_DIR_EGRESS));
    spec.extra_policy.push_back(PolicyKey(sid2, cid2, WD_DIR_INGRESS));
  }
  datapath::NodeTables tables = BuildTables(spec);
  if (both) {
    if_client_ = IfIndexIn(both->ns_server, both->dev_client_side);
    if_server_ = IfIndexIn(both->ns_client, both->dev_server_side);
    // One map for both namespaces: the two indexes must differ (they are made in one namespace).
    if (if_client_ == if_server_) throw Failure("the interface lane's devices share an ifindex");
    tables.ifaces[if_client_] = IfaceOf(both->lane.client_id, cid2, both->client_addr);
    tables.ifaces[if_server_] = IfaceOf(both->lane.server_id, sid2, both->server_addr);
  }
  policy_entries_ = static_cast<int>(tables.policy.size());
  try {
    Must(dp_->Apply(tables, node.Config()), "applying tables");
    node_fd_ = open(node.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (node_fd_ < 0) throw Failure("opening " + node.root());
  } catch (...) {
    dp_->DetachAndUnpin().IgnoreError();
    throw;
  }
}

TcpWarden::~TcpWarden() {
  StopReader();
  UnpinLinks();
  if (node_fd_ >= 0) close(node_fd_);
  dp_->DetachAndUnpin().IgnoreError();
}

void TcpWarden::Attach() {
  int fd = dp_->MapFd("wd_ct");
  std::vector<wd_ct_key> keys;
  wd_ct_key k, next;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    k = next;
    prev = &k;
  }
  for (const auto& key : keys) bpf_map_delete_elem(fd, &key);
  Must(dp_->Attach(), "attaching");
  if (AttachedCount(node_fd_, BPF_CGROUP_INET_EGRESS) != 1)
    throw Failure("wd_egress is not attached");
}

void TcpWarden::UnpinLinks() {
  for (const char* name : datapath::kProgramNames)
    unlink(absl::StrCat(dp_->bpffs_dir(), "/links/", name).c_str());
}

void TcpWarden::Detach() {
  UnpinLinks();
  // The last reference to a link goes in a work item: wait until the cgroup has no programs.
  auto deadline = testlib::Clock::now() + std::chrono::seconds(3);
  while (AttachedCount(node_fd_, BPF_CGROUP_INET_EGRESS) +
             AttachedCount(node_fd_, BPF_CGROUP_INET_INGRESS) +
             AttachedCount(node_fd_, BPF_CGROUP_INET4_CONNECT) >
         0) {
    if (testlib::Clock::now() > deadline) throw Failure("the programs did not detach");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void TcpWarden::AttachInterfaces() {
  if (!both_) return;
  InNetns(both_->ns_server, [&] { Must(dp_->AttachInterface(if_client_), "attaching"); });
  InNetns(both_->ns_client, [&] { Must(dp_->AttachInterface(if_server_), "attaching"); });
}

void TcpWarden::StartReader() {
  stop_reader_ = false;
  reader_ = std::thread([this] {
    while (!stop_reader_) {
      dp_->PollEvents(100, [this](const wd_event&) { ++events_read_; }).IgnoreError();
    }
  });
}

void TcpWarden::StopReader() {
  stop_reader_ = true;
  if (reader_.joinable()) reader_.join();
}

void TcpWarden::DrainEvents() {
  Must(dp_->PollEvents(0, [](const wd_event&) {}), "drain");
}

}  // namespace warden::bench
