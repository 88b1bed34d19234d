// BPF calls datapath_bench makes itself, beside Warden's BpfDatapath: return-1 programs (what
// TEST_RUN itself costs and, attached, the floor any cgroup-BPF enforcer pays), TEST_RUN of a raw
// program, a program's run-time statistics, and how many programs a cgroup has for a hook.
#pragma once

#include <bpf/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace warden::bench {

// A do-nothing program of `type` for `attach` that returns `ret` (1: a cgroup program's "allow";
// tc programs return -1, TCX_NEXT, as Warden's do when they pass a packet); the caller closes the
// fd. Throws Failure.
int LoadReturnOne(bpf_prog_type type = BPF_PROG_TYPE_CGROUP_SKB,
                  bpf_attach_type attach = BPF_CGROUP_INET_EGRESS, int32_t ret = 1);

// TEST_RUN of a program fd, `repeat` times; the kernel's average ns. Throws Failure.
uint32_t RawTestRun(int fd, const std::vector<uint8_t>& pkt, uint32_t repeat);

// A program's run-time statistics (counted while BPF_ENABLE_STATS is on).
struct ProgStats {
  uint64_t run_time_ns = 0, run_cnt = 0;
};
ProgStats ReadProgStats(int fd);

// Programs attached to the cgroup `cg_fd` for one attach type (0 once a detach has taken effect).
uint32_t AttachedCount(int cg_fd, bpf_attach_type type);

// Return-1 programs linked to a cgroup's egress, ingress and connect4 hooks, as multi-attach
// links; closing them (when this goes) detaches them.
class ReturnOneLinks {
 public:
  explicit ReturnOneLinks(const std::string& cgroup);  // throws Failure
  ReturnOneLinks(const ReturnOneLinks&) = delete;
  ReturnOneLinks& operator=(const ReturnOneLinks&) = delete;
  ~ReturnOneLinks();

 private:
  std::vector<int> fds_;  // the cgroup, then each program and its link
};

// Do-nothing tc programs linked (tcx) to the ingress and egress of device `dev` in network
// namespace `ns`: the floor of the interface programs, the way ReturnOneLinks is the cgroup
// programs'. Closing the links (when this goes) detaches them.
class ReturnOneTcx {
 public:
  ReturnOneTcx(const std::string& ns, const std::string& dev);  // throws Failure
  ReturnOneTcx(const ReturnOneTcx&) = delete;
  ReturnOneTcx& operator=(const ReturnOneTcx&) = delete;
  ~ReturnOneTcx();

 private:
  std::vector<int> fds_;  // each program and its link
};

}  // namespace warden::bench
