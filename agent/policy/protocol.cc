#include "agent/policy/protocol.h"

namespace warden::policy {

const char* ProtocolName(Protocol p) {
  switch (p) {
    case Protocol::kTCP:
      return "TCP";
    case Protocol::kUDP:
      return "UDP";
    case Protocol::kSCTP:
      return "SCTP";
  }
  return "?";
}

std::optional<Protocol> ParseProtocol(const std::string& s) {
  for (Protocol p : kProtocols) {
    if (s == ProtocolName(p)) return p;
  }
  return std::nullopt;
}

}  // namespace warden::policy
