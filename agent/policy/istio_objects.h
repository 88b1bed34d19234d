// The Istio objects that configure egress (ServiceEntry, DestinationRule, AuthorizationPolicy),
// as plain structs after validation. Fields keep Istio's distinction between absent and empty
// where its semantics depend on it; the matching itself lives in agent/egress/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/labels.h"
#include "agent/policy/objects.h"

namespace warden::policy {

// ---- ServiceEntry (networking.istio.io) -----------------------------------------------------

// ServicePort.protocol as Istio parses it (any case). kAuto: none given, the gateway tells HTTP
// from TLS by the first bytes (Istio's protocol sniffing); kOther keeps a name Istio accepts and
// Warden does not proxy (UDP, MONGO, REDIS, MYSQL, ...): such a port registers its hosts but
// carries nothing.
enum class IstioProtocol { kAuto, kHTTP, kHTTPS, kHTTP2, kGRPC, kTLS, kTCP, kOther };
const char* IstioProtocolName(IstioProtocol p);
// A ServicePort.protocol as Istio's validation accepts it (any case; "" is sniffed), or nullopt.
std::optional<IstioProtocol> ParseIstioProtocol(const std::string& name);

struct ServicePort {
  uint32_t number = 0;
  IstioProtocol protocol = IstioProtocol::kTCP;
  std::string protocol_name;  // as written, upper-cased (for messages and the audit)
  std::string name;
  uint32_t target_port = 0;  // 0: the port's own number
  bool operator==(const ServicePort&) const = default;
};

enum class Resolution { kNone, kStatic, kDns, kDnsRoundRobin, kDynamicDns };
const char* ResolutionName(Resolution r);

struct ServiceEndpoint {
  std::string address;  // an IP, a hostname (DNS resolution) or a unix socket path
  std::vector<std::pair<std::string, uint32_t>> ports;  // port name -> number
  Labels labels;
  bool operator==(const ServiceEndpoint&) const = default;
};

// exportTo as written: empty = every namespace (the mesh default); "." = the object's own,
// "*" = every namespace, "~" = none, else namespace names.
using ExportTo = std::vector<std::string>;

struct ServiceEntry {
  std::string ns;
  std::string name;
  std::vector<std::string> hosts;  // lower-cased; "*.example.com" wildcards
  std::vector<std::string> addresses;
  std::vector<ServicePort> ports;
  bool mesh_internal = false;  // location MESH_INTERNAL (default MESH_EXTERNAL)
  Resolution resolution = Resolution::kNone;
  std::vector<ServiceEndpoint> endpoints;
  ExportTo export_to;
  SourceRef source;

  std::string Key() const { return ns + "/" + name; }
  bool operator==(const ServiceEntry&) const = default;
};

// ---- DestinationRule (networking.istio.io) --------------------------------------------------

enum class TlsMode { kDisable, kSimple, kMutual, kIstioMutual };
const char* TlsModeName(TlsMode m);

// ClientTLSSettings: how the gateway connects upstream.
struct ClientTls {
  TlsMode mode = TlsMode::kDisable;
  std::string sni;                             // empty: the request's host
  std::vector<std::string> subject_alt_names;  // empty: the request's host
  std::string ca_certificates;                 // a file; empty: the system's CA store
  std::string ca_crl;
  std::string client_certificate;  // MUTUAL
  std::string private_key;         // MUTUAL
  std::string credential_name;     // a Kubernetes secret: read, not supported by the gateway
  std::optional<bool> insecure_skip_verify;
  bool operator==(const ClientTls&) const = default;
};

struct PortTls {
  uint32_t port = 0;
  std::optional<ClientTls> tls;
  bool operator==(const PortTls&) const = default;
};

struct DestinationRule {
  std::string ns;
  std::string name;
  std::string host;                 // lower-cased; may be a wildcard or "*"
  bool traffic_policy = false;      // trafficPolicy given (the first such rule of a host wins)
  std::optional<ClientTls> tls;     // trafficPolicy.tls
  std::vector<PortTls> port_level;  // trafficPolicy.portLevelSettings[]
  std::optional<LabelSelector> workload_selector;
  ExportTo export_to;
  SourceRef source;

  std::string Key() const { return ns + "/" + name; }
  bool operator==(const DestinationRule&) const = default;
};

// ---- AuthorizationPolicy (security.istio.io) ------------------------------------------------

enum class AuthzAction { kAllow, kDeny, kAudit, kCustom };
const char* AuthzActionName(AuthzAction a);
// A `when` key the gateway decides on (Istio's keys an egress gateway can know).
bool SupportedConditionKey(const std::string& key);

// A list of values of one field; Istio treats an empty list as the field being unset.
using Values = std::vector<std::string>;

struct AuthzSource {
  Values principals, not_principals;
  Values request_principals, not_request_principals;  // refused at decode (no JWT at egress)
  Values service_accounts, not_service_accounts;      // "sa" (the policy's namespace) or "ns/sa"
  Values namespaces, not_namespaces;
  Values ip_blocks, not_ip_blocks;
  Values remote_ip_blocks, not_remote_ip_blocks;
  bool operator==(const AuthzSource&) const = default;
};

struct AuthzOperation {
  Values hosts, not_hosts;
  Values ports, not_ports;
  Values methods, not_methods;
  Values paths, not_paths;
  bool operator==(const AuthzOperation&) const = default;
};

struct AuthzCondition {
  std::string key;
  Values values, not_values;
  bool operator==(const AuthzCondition&) const = default;
};

// from: OR of sources; to: OR of operations; when: AND of conditions; the three ANDed. An
// empty list places no constraint.
struct AuthzRule {
  std::vector<AuthzSource> from;
  std::vector<AuthzOperation> to;
  std::vector<AuthzCondition> when;
  bool operator==(const AuthzRule&) const = default;
};

struct PolicyTargetRef {
  std::string group;
  std::string kind;
  std::string name;
  std::string ns;  // empty: the policy's own
  bool operator==(const PolicyTargetRef&) const = default;
};

struct AuthorizationPolicy {
  std::string ns;
  std::string name;
  std::optional<LabelSelector> selector;  // absent: every workload of its namespace
  std::vector<PolicyTargetRef> target_refs;
  AuthzAction action = AuthzAction::kAllow;
  std::string provider;  // CUSTOM's extension provider (refused at decode)
  std::vector<AuthzRule> rules;
  bool dry_run = false;  // annotation istio.io/dry-run: "true"
  SourceRef source;

  std::string Key() const { return ns + "/" + name; }
  bool operator==(const AuthorizationPolicy&) const = default;
};

}  // namespace warden::policy
