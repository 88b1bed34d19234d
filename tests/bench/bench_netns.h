// Running a piece of the bench inside one of its network namespaces (/var/run/netns/NAME), on
// this thread only: what a device's index or a tcx link means depends on the namespace.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace warden::bench {

// Runs `fn` with this thread in network namespace `ns`, then back. Throws Failure.
void InNetns(const std::string& ns, const std::function<void()>& fn);

// The index of device `dev` in `ns`. Throws Failure.
uint32_t IfIndexIn(const std::string& ns, const std::string& dev);

}  // namespace warden::bench
