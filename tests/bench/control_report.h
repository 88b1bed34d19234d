// What control_bench prints after its scenarios: the latency table (every (agent, round) sample
// of each scenario), the slowest agent per round, the control plane's push latency, CPU and
// memory, the target, and last the key=value headline.
#pragma once

#include <cstddef>

#include "tests/bench/control_inprocess.h"
#include "tests/bench/control_scenario.h"

namespace warden::bench {

// The scenarios that did not run are left empty (their figures print as 0).
struct ControlRun {
  int agents_max = 0, rounds = 0, contended_rounds = 0, nodes = 0;
  size_t pods = 0;
  bool have_base = false, have_single = false, have_contended = false, have_quiet = false;
  ScenarioResult base, c1, cn, cq;  // manifests-1, control-1, control-N, control-N-quiet
  InProcessFigures inproc;
};

void ReportControl(const ControlRun& run);

}  // namespace warden::bench
