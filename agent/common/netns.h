// Joining a named network namespace (/var/run/netns/NAME) with setns(2). Unlike `ip netns exec`
// this leaves the mount namespace alone, so cgroup2 and bpffs stay visible.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace warden::common {

absl::Status EnterNetns(const std::string& name);

}  // namespace warden::common
