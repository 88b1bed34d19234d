// What the gateway knows about one request (or one TLS/TCP connection) when it decides: the
// attested source, the original destination, and for HTTP the request line and headers.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/ip.h"

namespace warden::egress {

// The kernel-attested pod a connection came from (the node forwarder's flow header, checked
// against the pods the control plane says run on that node).
struct SourceIdentity {
  std::string ns;
  std::string service_account = "default";
  std::string pod;  // "ns/name", for logs and explain
};

struct Request {
  std::optional<SourceIdentity> source;  // none: no attested identity
  std::optional<policy::IpAddress> source_ip;
  std::optional<policy::IpAddress> destination_ip;  // the original destination
  uint32_t port = 0;                                // the original destination port
  // HTTP: the request line and headers (names lower-case, each value as received; a repeated
  // header has several). Not HTTP (TLS passthrough, TCP): only `sni` (TLS) below.
  bool http = true;
  std::string method;
  std::string authority;  // the Host header as sent (a port included when sent)
  std::string path;       // normalized (path_normalize.h), without the query
  std::multimap<std::string, std::string> headers;
  std::string sni;  // the TLS ClientHello's server name, if any
};

// The SPIFFE-style principal of an identity as Istio writes it in policies
// ("cluster.local/ns/NS/sa/SA"), without the spiffe:// scheme.
inline std::string PrincipalOf(const SourceIdentity& s, const std::string& trust_domain) {
  return trust_domain + "/ns/" + s.ns + "/sa/" + s.service_account;
}

}  // namespace warden::egress
