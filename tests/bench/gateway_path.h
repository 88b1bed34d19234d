// The whole path a pod's request takes, pod -> node forwarder -> gateway -> upstream, on the lab
// (real namespaces, the real agents, forwarder, gateway and nginx), against a pod reaching the
// upstream directly (the gateway pod, the one pod the reference lets out, with curl over HTTPS).
// Needs root.
#pragma once

#include <string>

namespace warden::bench {

struct PathLatency {
  double via_first_ms = 0, direct_first_ms = 0;    // a request on a new connection, medians
  double via_reused_us = 0, direct_reused_us = 0;  // a second request on the same connection
  int samples = 0;
};

// Brings a lab up from the reference manifests (with `warden`), measures `samples` requests of
// each kind with curl's own timers, and takes the lab down.
PathLatency MeasurePath(const std::string& warden, const std::string& source_dir, int samples);

}  // namespace warden::bench
