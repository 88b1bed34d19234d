// Istio's egress objects on the wire (proto/warden/v1/egress.proto), for the control plane to
// send gateways what they compile into their GatewayConfig. Decoding checks the fields again as
// the manifest reader did (hosts, ports, addresses, enum values, condition keys): a message that
// could not have come from valid manifests is an error naming the field.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/policy/istio_objects.h"
#include "warden/v1/egress.pb.h"

namespace warden::nodestate {

void ToWire(const policy::ServiceEntry& se, v1::IstioServiceEntry* w);
absl::StatusOr<policy::ServiceEntry> FromWire(const v1::IstioServiceEntry& w,
                                              const std::string& field);

void ToWire(const policy::DestinationRule& dr, v1::IstioDestinationRule* w);
absl::StatusOr<policy::DestinationRule> FromWire(const v1::IstioDestinationRule& w,
                                                 const std::string& field);

void ToWire(const policy::AuthorizationPolicy& ap, v1::IstioAuthorizationPolicy* w);
absl::StatusOr<policy::AuthorizationPolicy> FromWire(const v1::IstioAuthorizationPolicy& w,
                                                     const std::string& field);

}  // namespace warden::nodestate
