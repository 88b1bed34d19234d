#include "agent/policy/istio_objects.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

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

std::optional<IstioProtocol> ParseIstioProtocol(const std::string& name) {
  static const std::pair<const char*, IstioProtocol> kNames[] = {
      {"http", IstioProtocol::kHTTP},      {"https", IstioProtocol::kHTTPS},
      {"http2", IstioProtocol::kHTTP2},    {"grpc", IstioProtocol::kGRPC},
      {"tls", IstioProtocol::kTLS},        {"tcp", IstioProtocol::kTCP},
      {"grpc-web", IstioProtocol::kOther}, {"http_proxy", IstioProtocol::kOther},
      {"udp", IstioProtocol::kOther},      {"mongo", IstioProtocol::kOther},
      {"redis", IstioProtocol::kOther},    {"mysql", IstioProtocol::kOther}};
  if (name.empty()) return IstioProtocol::kAuto;
  const std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [n, p] : kNames) {
    if (lower == n) return p;
  }
  return std::nullopt;
}

bool SupportedConditionKey(const std::string& key) {
  if (absl::StartsWith(key, "request.headers[")) return absl::EndsWith(key, "]") && key.size() > 17;
  for (const char* k :
       {"source.ip", "remote.ip", "destination.ip", "destination.port", "source.namespace",
        "source.principal", "source.serviceAccount", "connection.sni"}) {
    if (key == k) return true;
  }
  return false;
}

}  // namespace warden::policy
