// Numbers in a benchmark's last line of key=value pairs: fixed decimals, nothing else.
#pragma once

#include <cstdio>
#include <string>

namespace warden::bench {

inline std::string Fmt(double v, int prec = 1) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
  return buf;
}

}  // namespace warden::bench
