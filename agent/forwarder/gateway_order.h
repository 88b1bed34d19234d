// Which gateway a flow tries first, and then: flows spread over the gateways round the list, and
// a gateway that failed lately is tried after the others (failover without waiting on it first).
#pragma once

#include <cstddef>
#include <vector>

namespace warden::forwarder {

// The indexes of `n` gateways in the order to try them: from `start` (mod n) round the list,
// those with down[i] set after the others, in the same rotation. `down` has n entries.
std::vector<size_t> GatewayOrder(size_t n, size_t start, const std::vector<bool>& down);

}  // namespace warden::forwarder
