// Which external hosts a namespace may reach through the gateway (Istio's REGISTRY_ONLY: a host
// is reachable only when a ServiceEntry visible to the source namespace registers it on the
// port), and how the gateway connects upstream for it (DestinationRule TLS, Istio's lookup).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "agent/policy/istio_objects.h"

namespace warden::egress {

// A host pattern as a ServiceEntry or DestinationRule writes it: "example.com", "*.example.com",
// "*.com", "*" (DestinationRule only). True when `host` (lower-case, no port) is one it names:
// a wildcard stands for one label or more ("*.example.com" is not "example.com").
bool HostPatternMatches(absl::string_view pattern, absl::string_view host);

// The host and port of an authority ("example.com:8080", "[2001:db8::1]:80"), lower-cased; port
// 0 when none is written. nullopt when it is not a host[:port].
struct Authority {
  std::string host;
  uint32_t port = 0;
};
std::optional<Authority> ParseAuthority(absl::string_view authority);

// What registers a host for a namespace on a port.
// Pointers into the objects the Registry was built from.
struct Registration {
  const policy::ServiceEntry* entry = nullptr;
  const std::string* host = nullptr;  // the ServiceEntry's host pattern that matched
  const policy::ServicePort* port = nullptr;
};

// How the gateway connects upstream for one registration (the DestinationRule that applies).
struct Upstream {
  policy::TlsMode tls = policy::TlsMode::kDisable;
  const policy::ClientTls* settings = nullptr;  // the rule's, when it names a mode
  const policy::DestinationRule* rule = nullptr;
  uint32_t port = 0;  // the port connected to: the ServicePort's targetPort, else its number
};

struct RegistryOptions {
  std::string root_namespace = "istio-system";
};

class Registry {
 public:
  Registry(const std::map<std::string, policy::ServiceEntry>& entries,
           const std::map<std::string, policy::DestinationRule>& rules, RegistryOptions o = {});

  // Whether `entry` is visible to namespace `ns` (exportTo; unset means every namespace).
  static bool Visible(const policy::ServiceEntry& entry, const std::string& ns);

  // The registration of `host` (lower-case, no port) on `port` visible to `ns`: the most
  // specific host pattern (exact, then the longest wildcard); among ServiceEntries naming the
  // same pattern, those of `ns` first, then by namespace/name. `tls_only`: only ports that
  // route by SNI (TLS, HTTPS); `http_only`: only ports that carry HTTP (HTTP, HTTP2, GRPC, or
  // sniffed).
  enum class Want { kHttp, kTls, kAny };
  std::optional<Registration> Lookup(const std::string& ns, const std::string& host, uint32_t port,
                                     Want want) const;

  // A connection with neither HTTP nor a server name, by its original destination: a TCP (or
  // sniffed) port `port` of a ServiceEntry visible to `ns` whose addresses hold `ip`, or that has
  // no addresses and resolution NONE (Istio's wildcard listener for the port: it takes every
  // address). The most specific address wins, then the source's namespace, then key order.
  std::optional<Registration> LookupAddress(const std::string& ns, const policy::IpAddress& ip,
                                            uint32_t port) const;

  // The DestinationRule settings for a registration, seen from namespace `ns` (Istio's order:
  // the client's namespace, the service's, the root namespace; the most specific host in each;
  // a port-level entry replaces the whole policy for its port).
  Upstream UpstreamFor(const std::string& ns, const Registration& r) const;

  // Every host pattern some ServiceEntry registers (for the audit).
  std::vector<std::string> Hosts() const;

 private:
  struct Entry {
    const policy::ServiceEntry* entry;
    const std::string* host;
  };
  // Exact hosts, and wildcard patterns by what follows the '*' (".example.com" for
  // "*.example.com"); a lookup tries the host's suffixes longest first, only those starting at
  // a dot unless some pattern is a partial wildcard ("*foo.com").
  absl::flat_hash_map<std::string, std::vector<Entry>> exact_;
  absl::flat_hash_map<std::string, std::vector<Entry>> wildcard_;
  bool partial_wildcards_ = false;
  std::vector<const policy::DestinationRule*> rules_;
  std::vector<const policy::ServiceEntry*> entries_;  // key order
  std::vector<std::vector<policy::Cidr>> addresses_;  // entries_[i]'s addresses, parsed once
  RegistryOptions o_;
};

}  // namespace warden::egress
