#include "agent/forwarder/gateway_order.h"

namespace warden::forwarder {

std::vector<size_t> GatewayOrder(size_t n, size_t start, const std::vector<bool>& down) {
  std::vector<size_t> up_first, later;
  for (size_t k = 0; k < n; ++k) {
    size_t i = (start + k) % n;
    (i < down.size() && down[i] ? later : up_first).push_back(i);
  }
  up_first.insert(up_first.end(), later.begin(), later.end());
  return up_first;
}

}  // namespace warden::forwarder
