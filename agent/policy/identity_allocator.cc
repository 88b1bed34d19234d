#include "agent/policy/identity_allocator.h"

#include "absl/strings/str_cat.h"

namespace warden::policy {

namespace {
uint64_t Fnv1a64(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}
}  // namespace

absl::StatusOr<std::vector<uint32_t>> IdentityAllocator::Allocate(
    const std::vector<std::string>& keys) {
  const uint64_t span = uint64_t{hi_} - lo_ + 1;
  if (keys.size() + used_.size() > span) {
    return absl::ResourceExhaustedError(
        absl::StrCat(keys.size() + used_.size(), " identities needed, the range holds ", span));
  }
  std::vector<uint32_t> ids;
  ids.reserve(keys.size());
  for (const auto& k : keys) {
    uint64_t slot = Fnv1a64(k) % span;
    while (used_.count(static_cast<uint32_t>(lo_ + slot))) slot = (slot + 1) % span;
    uint32_t id = static_cast<uint32_t>(lo_ + slot);
    used_.insert(id);
    ids.push_back(id);
  }
  return ids;
}

}  // namespace warden::policy
