#include "agent/policy/istio_objects.h"

namespace warden::policy {

const char* IstioProtocolName(IstioProtocol p) {
  switch (p) {
    case IstioProtocol::kAuto:
      return "(sniffed)";
    case IstioProtocol::kHTTP:
      return "HTTP";
    case IstioProtocol::kHTTPS:
      return "HTTPS";
    case IstioProtocol::kHTTP2:
      return "HTTP2";
    case IstioProtocol::kGRPC:
      return "GRPC";
    case IstioProtocol::kTLS:
      return "TLS";
    case IstioProtocol::kTCP:
      return "TCP";
    case IstioProtocol::kOther:
      break;
  }
  return "OTHER";
}

const char* ResolutionName(Resolution r) {
  switch (r) {
    case Resolution::kNone:
      return "NONE";
    case Resolution::kStatic:
      return "STATIC";
    case Resolution::kDns:
      return "DNS";
    case Resolution::kDnsRoundRobin:
      return "DNS_ROUND_ROBIN";
    case Resolution::kDynamicDns:
      break;
  }
  return "DYNAMIC_DNS";
}

const char* TlsModeName(TlsMode m) {
  switch (m) {
    case TlsMode::kDisable:
      return "DISABLE";
    case TlsMode::kSimple:
      return "SIMPLE";
    case TlsMode::kMutual:
      return "MUTUAL";
    case TlsMode::kIstioMutual:
      break;
  }
  return "ISTIO_MUTUAL";
}

const char* AuthzActionName(AuthzAction a) {
  switch (a) {
    case AuthzAction::kAllow:
      return "ALLOW";
    case AuthzAction::kDeny:
      return "DENY";
    case AuthzAction::kAudit:
      return "AUDIT";
    case AuthzAction::kCustom:
      break;
  }
  return "CUSTOM";
}

}  // namespace warden::policy
