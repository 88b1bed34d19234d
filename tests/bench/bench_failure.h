// How a benchmark stops: a Failure (thrown, caught in main, which then cleans up), a status that
// must be OK, and SIGINT/SIGTERM turned into a Failure at the next CheckInterrupted().
#pragma once

#include <signal.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace warden::bench {

struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) throw Failure(absl::StrCat(what, ": ", v.status().ToString()));
  return std::move(*v);
}
inline void Must(const absl::Status& st, const std::string& what) {
  if (!st.ok()) throw Failure(absl::StrCat(what, ": ", st.ToString()));
}

inline std::atomic<bool> g_interrupted{false};
inline void OnSignal(int) { g_interrupted = true; }

// SIGINT and SIGTERM only set a flag, so that the benchmark unwinds and removes what it made;
// SIGPIPE is ignored (a child that went away shows as a failed write).
inline void CatchInterrupts() {
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);
}

inline void CheckInterrupted() {
  if (g_interrupted) throw Failure("interrupted");
}

}  // namespace warden::bench
