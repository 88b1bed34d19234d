#include "tests/bench/bench_netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tests/bench/bench_failure.h"

namespace warden::bench {

// Runs `fn` with this thread in network namespace `ns` (/var/run/netns/NAME), then back.
void InNetns(const std::string& ns, const std::function<void()>& fn) {
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  int target = open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
  if (self < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
    if (self >= 0) close(self);
    if (target >= 0) close(target);
    throw Failure("entering network namespace " + ns + ": " + strerror(errno));
  }
  close(target);
  try {
    fn();
  } catch (...) {
    setns(self, CLONE_NEWNET);
    close(self);
    throw;
  }
  if (setns(self, CLONE_NEWNET) != 0) throw Failure("leaving network namespace " + ns);
  close(self);
}

uint32_t IfIndexIn(const std::string& ns, const std::string& dev) {
  uint32_t i = 0;
  InNetns(ns, [&] { i = if_nametoindex(dev.c_str()); });
  if (!i) throw Failure("no interface " + dev + " in " + ns);
  return i;
}

}  // namespace warden::bench
