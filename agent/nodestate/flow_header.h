// The flow header on the wire (proto/warden/v1/flow.proto): a varint length, then the message.
// Written by the node's forwarder, read by the gateway from a byte stream that may arrive in
// pieces; anything malformed or too long is an error naming the field, never a crash, and a
// reader never takes more than the header's own bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/policy/ip.h"

namespace warden::nodestate {

// The ALPN protocol of a forwarder's mutual-TLS connection to a gateway, which carries a flow
// header and then the pod's bytes.
inline constexpr char kFlowAlpn[] = "warden-flow/1";

struct Flow {
  std::string ns, pod, service_account;
  uint32_t identity = 0;
  policy::IpAddress original_ip;
  uint16_t original_port = 0;
  uint64_t flow_id = 0;
  bool operator==(const Flow&) const = default;
};

// The most bytes a header's message may hold: names are short, and a peer must not make the
// gateway buffer more before anything is checked.
inline constexpr size_t kMaxFlowHeaderBytes = 2048;

std::string EncodeFlowHeader(const Flow& f);

// The header at the start of `bytes`: the flow and how many bytes it took, or nullopt when more
// bytes are needed; an error when what is there cannot become a valid header.
struct DecodedFlow {
  Flow flow;
  size_t consumed = 0;
};
absl::StatusOr<std::optional<DecodedFlow>> DecodeFlowHeader(absl::string_view bytes);

}  // namespace warden::nodestate
