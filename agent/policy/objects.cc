#include "agent/policy/objects.h"

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
  if (s == "TCP") return Protocol::kTCP;
  if (s == "UDP") return Protocol::kUDP;
  if (s == "SCTP") return Protocol::kSCTP;
  return std::nullopt;
}

}  // namespace warden::policy
