// A request target as the gateway receives it (agent/egress/path_normalize.h): any bytes are a
// 400 or a normalized path that normalizes to itself and holds no dot segment.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "agent/egress/path_normalize.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string target(reinterpret_cast<const char*>(data), size);
  auto p = warden::egress::NormalizePath(target);
  if (!p.ok()) return 0;
  auto again = warden::egress::NormalizePath(*p);
  if (!again.ok() || *again != *p || p->empty() || (*p)[0] != '/') std::abort();
  const std::string slashed = *p + "/";
  if (slashed.find("/./") != std::string::npos || slashed.find("/../") != std::string::npos)
    std::abort();
  return 0;
}
