// Where datapath_bench works. Every name it makes carries its pid, so that two runs never meet,
// and all of it is removed when the DatapathEnv goes (also after a failure or SIGINT/SIGTERM):
// netns wdb-<pid>-{c,s} (by the TCP part), cgroup <cgroup2>/warden-bench-<pid>, bpffs
// /sys/fs/bpf/warden-bench-<pid>, /tmp/warden-bench-<pid>.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "tests/lib/scratch_cgroup.h"
#include "tests/lib/scratch_dir.h"

namespace warden::bench {

struct DatapathEnv {
  pid_t pid = 0;
  // In this order, so that they go in reverse: the pins, then the cgroups, then the files.
  testlib::ScratchDir tmp;
  testlib::ScratchCgroup cgroups;
  testlib::ScratchDir bpffs;  // made by the datapaths that pin under it
  std::string ns_client, ns_server, veth_c, veth_s;
  std::string warden_binary;  // the `warden` next to this executable
};

// Throws Failure.
std::unique_ptr<DatapathEnv> MakeDatapathEnv();

}  // namespace warden::bench
