// Node-pool lockdown: default-pool nodes reach no world address directly, except the allowances
// an operator gives (the metadata server, private API VIPs, ...). Part of the model because
// both the compiled node state and `explain` need them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/policy/ip.h"
#include "agent/policy/protocol.h"

namespace warden::policy {

// A world destination a default-pool node may still reach directly: "CIDR[:PORT[-END]][/PROTO]".
struct Allowance {
  Cidr cidr;
  std::optional<Protocol> protocol;  // none: every protocol
  uint16_t port_lo = 0, port_hi = 65535;
  std::string ToString() const;
  bool operator==(const Allowance&) const = default;
};

absl::StatusOr<Allowance> ParseAllowance(const std::string& text);

}  // namespace warden::policy
