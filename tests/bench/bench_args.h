// Command-line flags of the benchmarks: `--name VALUE` and bare `--flag`, nothing else.
#pragma once

#include <string>

#include "absl/strings/numbers.h"

namespace warden::bench {

// The integer after `flag`, if it parses and is at least `min`; else `def`.
inline int ArgInt(int argc, char** argv, const std::string& flag, int def, int min = 1) {
  for (int i = 1; i + 1 < argc; ++i) {
    int v = 0;
    if (argv[i] == flag && absl::SimpleAtoi(argv[i + 1], &v) && v >= min) return v;
  }
  return def;
}

inline bool ArgFlag(int argc, char** argv, const std::string& flag) {
  for (int i = 1; i < argc; ++i) {
    if (argv[i] == flag) return true;
  }
  return false;
}

inline std::string ArgStr(int argc, char** argv, const std::string& flag, const std::string& def) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return argv[i + 1];
  }
  return def;
}

}  // namespace warden::bench
