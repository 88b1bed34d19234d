// C++ conveniences for the ABI structs of bpf/warden_structs.h: comparison and hashing by bytes.
// Every ABI struct spells out its padding (and the header asserts each struct's size), so equal
// bytes mean equal values; the structs are zero-initialised (`T{}`) wherever they are made.
#pragma once

#include <cstring>
#include <string_view>

#include "warden_structs.h"

namespace warden::common {

template <typename T>
bool SameBytes(const T& a, const T& b) {
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// An ABI struct used as a hash key: compared and hashed by its bytes.
template <typename T>
struct Raw {
  T v;
  Raw() { std::memset(&v, 0, sizeof(v)); }
  Raw(const T& x) : v(x) {}  // NOLINT: implicit on purpose
  bool operator==(const Raw& o) const { return SameBytes(v, o.v); }
  template <typename H>
  friend H AbslHashValue(H h, const Raw& r) {
    return H::combine(std::move(h),
                      std::string_view(reinterpret_cast<const char*>(&r.v), sizeof(T)));
  }
};

// The kinds of identity, by the ranges warden_consts.h gives them.
inline bool IsPodIdentity(uint32_t id) { return id >= WD_ID_POD_MIN && id <= WD_ID_POD_MAX; }
inline bool IsNamespaceIdentity(uint32_t id) { return (id & ~WD_ID_POD_MAX) == WD_ID_NS_FLAG; }

}  // namespace warden::common

// The values of the ABI's tables compare by bytes (in the global namespace, where the structs
// are, so that containers of them compare too).
inline bool operator==(const wd_policy_value& a, const wd_policy_value& b) {
  return warden::common::SameBytes(a, b);
}
inline bool operator==(const wd_ipcache_value& a, const wd_ipcache_value& b) {
  return warden::common::SameBytes(a, b);
}
inline bool operator==(const wd_endpoint& a, const wd_endpoint& b) {
  return warden::common::SameBytes(a, b);
}
inline bool operator==(const wd_portset& a, const wd_portset& b) {
  return warden::common::SameBytes(a, b);
}
inline bool operator==(const wd_iface& a, const wd_iface& b) {
  return warden::common::SameBytes(a, b);
}
