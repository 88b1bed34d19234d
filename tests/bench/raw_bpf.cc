#include "tests/bench/raw_bpf.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/bench_netns.h"

namespace warden::bench {

namespace {
// From the kernel's uapi (6.6+); Debian 12's headers predate tcx (as in interface_links.cc).
constexpr auto kTcxIngress = static_cast<bpf_attach_type>(46);  // BPF_TCX_INGRESS
constexpr auto kTcxEgress = static_cast<bpf_attach_type>(47);   // BPF_TCX_EGRESS
}  // namespace

int LoadReturnOne(bpf_prog_type type, bpf_attach_type attach, int32_t ret) {
  bpf_insn insns[2];
  std::memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = ret;
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = attach);
  int fd = bpf_prog_load(type, "wdb_ret1", "GPL", insns, 2, &o);
  if (fd < 0) throw Failure(absl::StrCat("loading a return-1 program: ", strerror(errno)));
  return fd;
}

uint32_t RawTestRun(int fd, const std::vector<uint8_t>& pkt, uint32_t repeat) {
  std::vector<uint8_t> out(pkt.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(pkt.size()),
              .data_size_out = static_cast<uint32_t>(out.size()),
              .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(fd, &o) != 0)
    throw Failure(absl::StrCat("BPF_PROG_TEST_RUN: ", strerror(errno)));
  return o.duration;
}

ProgStats ReadProgStats(int fd) {
  bpf_prog_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    throw Failure(absl::StrCat("reading program info: ", strerror(errno)));
  return ProgStats{info.run_time_ns, info.run_cnt};
}

uint32_t AttachedCount(int cg_fd, bpf_attach_type type) {
  uint32_t ids[16], cnt = 16, flags = 0;
  if (bpf_prog_query(cg_fd, type, 0, &flags, ids, &cnt) != 0) return 99;
  return cnt;
}

ReturnOneLinks::ReturnOneLinks(const std::string& cgroup) {
  int cg = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cg < 0) throw Failure("opening " + cgroup);
  fds_.push_back(cg);
  const std::pair<bpf_prog_type, bpf_attach_type> hooks[] = {
      {BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS},
      {BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS},
      {BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT}};
  try {
    for (const auto& [type, attach_type] : hooks) {
      int prog = LoadReturnOne(type, attach_type);
      fds_.push_back(prog);
      int link = bpf_link_create(prog, cg, attach_type, nullptr);
      if (link < 0) throw Failure(absl::StrCat("attaching a return-1 program: ", strerror(errno)));
      fds_.push_back(link);
    }
  } catch (...) {
    for (int fd : fds_) close(fd);
    throw;
  }
}

ReturnOneLinks::~ReturnOneLinks() {
  for (int fd : fds_) close(fd);
}

ReturnOneTcx::ReturnOneTcx(const std::string& ns, const std::string& dev) {
  uint32_t ifindex = IfIndexIn(ns, dev);
  try {
    InNetns(ns, [&] {
      for (bpf_attach_type at : {kTcxIngress, kTcxEgress}) {
        int prog = LoadReturnOne(BPF_PROG_TYPE_SCHED_CLS, at, -1);
        fds_.push_back(prog);
        int link = bpf_link_create(prog, static_cast<int>(ifindex), at, nullptr);
        if (link < 0)
          throw Failure(
              absl::StrCat("linking a return-1 tc program to ", dev, ": ", strerror(errno)));
        fds_.push_back(link);
      }
    });
  } catch (...) {
    for (int fd : fds_) close(fd);
    throw;
  }
}

ReturnOneTcx::~ReturnOneTcx() {
  for (int fd : fds_) close(fd);
}

}  // namespace warden::bench
