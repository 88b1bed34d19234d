// Child processes of a test or benchmark (the real `warden` binaries, perf): started with their
// output in a log, never outliving their parent, ended by their pid (never by name).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace warden::testlib {

// Starts argv[0] (a path) with `argv`, stdout and stderr appended to a fresh `log`, stdin from
// /dev/null; the child gets SIGTERM when this process dies. Throws std::runtime_error when fork
// fails.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& log);

// Forks a child that runs `setup` (moving itself into a cgroup, a network namespace, giving up
// capabilities, ...) and then waits to be killed, never outliving its parent. Returns once the
// child is in place: its pid, or -1 when setup failed (the child is then gone).
pid_t StartParked(const std::function<bool()>& setup);

// Forks a child that moves itself into cgroup `cgroup` and then network namespace `netns`
// (/var/run/netns/NAME; the cgroup first: the namespace's view of /sys has no cgroup2 mount) and
// runs `fn`; returns what fn returned, or -1 when the child could not get there.
int RunInChild(const std::string& cgroup, const std::string& netns, const std::function<int()>& fn);
// Whether child `pid` has exited (it is reaped if so).
bool Exited(pid_t pid);

// Ends child `pid`: SIGTERM, then SIGKILL after `grace`; reaps it.
void EndChild(pid_t pid, std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

// The last `lines` lines of the file at `path`, each indented by four spaces.
std::string LogTail(const std::string& path, int lines = 8);

}  // namespace warden::testlib
