// Running a command inside a place of the lab, as `kubectl exec` runs one in a container: the
// command joins the place's cgroup and network namespace and has the caller's stdin, stdout,
// stderr, environment and working directory.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/common/capabilities.h"

namespace warden::lab {

struct ExecPlace {
  std::string cgroup, netns;
  // The capabilities the command keeps; nullopt: all of the caller's.
  std::optional<common::CapabilitySet> capabilities;
};

// Runs `argv` (argv[0] looked up in PATH) in `place` and returns its exit status, 128+N when
// signal N ended it (as a shell reports it); 127 when it could not be executed (the reason on
// stderr, as a shell says it). An error when the place could not be entered. While the command
// runs this process ignores SIGINT and SIGQUIT (as system(3) does): a Ctrl-C ends the command,
// whose status is then returned.
absl::StatusOr<int> RunIn(const ExecPlace& place, const std::vector<std::string>& argv);

}  // namespace warden::lab
