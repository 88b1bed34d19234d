// What every benchmark's main does around its own work: --help (or -h) prints the usage; one
// that needs root exits with status 2 without it; an exception (a Failure, an interruption) is
// printed with the benchmark's name and exits with status 1, after what it made is gone.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <exception>

#include "tests/bench/bench_args.h"

namespace warden::bench {

struct BenchInfo {
  const char* name;        // "datapath_bench"
  const char* usage;       // printed for --help
  const char* needs_root;  // what it does that needs root; nullptr when it does not
};

// Returns main's exit status: run()'s, or 0, 1 or 2 as above.
template <typename Run>
int RunBench(int argc, char** argv, const BenchInfo& info, Run run) {
  if (ArgFlag(argc, argv, "-h") || ArgFlag(argc, argv, "--help")) {
    std::printf("%s", info.usage);
    return 0;
  }
  if (info.needs_root && geteuid() != 0) {
    std::fprintf(stderr, "%s: must run as root (%s): sudo %s\n", info.name, info.needs_root,
                 argv[0]);
    return 2;
  }
  try {
    return run();
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s: %s\n", info.name, e.what());
    return 1;
  }
}

}  // namespace warden::bench
