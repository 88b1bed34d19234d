// Wall-clock intervals in milliseconds, on the monotonic clock.
#pragma once

#include <chrono>

namespace warden::testlib {

using Clock = std::chrono::steady_clock;

inline double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

inline double MsSince(Clock::time_point t0) { return MsBetween(t0, Clock::now()); }

}  // namespace warden::testlib
