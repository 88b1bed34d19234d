// The L4 protocols NetworkPolicy names, and the one place they map to the datapath's per-protocol
// index (WD_L4_*) and to IP protocol numbers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "warden_consts.h"

namespace warden::policy {

// The values are the datapath's indices (wd_policy_value.portset[]).
enum class Protocol : uint8_t { kTCP = WD_L4_TCP, kUDP = WD_L4_UDP, kSCTP = WD_L4_SCTP };
inline constexpr int kProtocolCount = WD_L4_COUNT;
inline constexpr Protocol kProtocols[] = {Protocol::kTCP, Protocol::kUDP, Protocol::kSCTP};

const char* ProtocolName(Protocol p);  // "TCP", as Kubernetes writes it
std::optional<Protocol> ParseProtocol(const std::string& s);

// Index into wd_policy_value.portset[].
constexpr int L4Index(Protocol p) { return static_cast<int>(p); }

// The IP protocol number (WD_IPPROTO_TCP, ...: what the BPF programs compare).
constexpr uint8_t IpProtocolNumber(Protocol p) {
  switch (p) {
    case Protocol::kTCP:
      return WD_IPPROTO_TCP;
    case Protocol::kUDP:
      return WD_IPPROTO_UDP;
    case Protocol::kSCTP:
      return WD_IPPROTO_SCTP;
  }
  return 0;
}

// The protocol of an IP protocol number, if NetworkPolicy can name it.
constexpr std::optional<Protocol> ProtocolOfIpNumber(uint32_t number) {
  for (Protocol p : kProtocols) {
    if (IpProtocolNumber(p) == number) return p;
  }
  return std::nullopt;
}

static_assert(L4Index(Protocol::kTCP) == WD_L4_TCP && L4Index(Protocol::kUDP) == WD_L4_UDP &&
              L4Index(Protocol::kSCTP) == WD_L4_SCTP);
static_assert(sizeof(kProtocols) / sizeof(kProtocols[0]) == WD_L4_COUNT);
static_assert(IpProtocolNumber(Protocol::kTCP) == 6 && IpProtocolNumber(Protocol::kUDP) == 17 &&
              IpProtocolNumber(Protocol::kSCTP) == 132);  // the IANA numbers the wire carries
static_assert(ProtocolOfIpNumber(17) == Protocol::kUDP && !ProtocolOfIpNumber(1));

}  // namespace warden::policy
