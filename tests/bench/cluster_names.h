// Names in the synthetic clusters of compile_bench and control_bench: namespaces (the first two
// are kube-system and monitoring, then teams) and the ten apps each namespace runs.
#pragma once

#include <string>

#include "absl/strings/str_cat.h"

namespace warden::bench {

inline constexpr const char* kApps[] = {"web",    "api",   "auth", "cart",  "search",
                                        "worker", "cache", "db",   "queue", "gateway"};

inline std::string NamespaceName(int k) {
  if (k == 0) return "kube-system";
  if (k == 1) return "monitoring";
  return absl::StrCat("team", k % 20, "-svc", k);
}

}  // namespace warden::bench
