#include "agent/egress/registry.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace warden::egress {

using policy::DestinationRule;
using policy::IstioProtocol;
using policy::ServiceEntry;

bool HostPatternMatches(absl::string_view pattern, absl::string_view host) {
  if (pattern == "*") return true;
  if (absl::StartsWith(pattern, "*")) {
    const absl::string_view suffix = pattern.substr(1);
    return host.size() > suffix.size() && absl::EndsWith(host, suffix);
  }
  return pattern == host;
}

std::optional<Authority> ParseAuthority(absl::string_view a) {
  Authority out;
  absl::string_view host = a;
  if (absl::StartsWith(a, "[")) {  // an IPv6 literal
    const size_t close = a.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    host = a.substr(0, close + 1);
    a.remove_prefix(close + 1);
    if (!a.empty() && !absl::StartsWith(a, ":")) return std::nullopt;
  } else {
    const size_t colon = a.rfind(':');
    host = a.substr(0, colon);
    a = colon == absl::string_view::npos ? absl::string_view() : a.substr(colon);
  }
  if (!a.empty()) {
    const absl::string_view digits = a.substr(1);
    if (digits.empty() || digits.size() > 5 ||
        digits.find_first_not_of("0123456789") != absl::string_view::npos ||
        !absl::SimpleAtoi(digits, &out.port) || out.port == 0 || out.port > 65535)
      return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  // RFC 3986 reg-name (or an IP literal in brackets): nothing a Host header may not hold.
  static constexpr absl::string_view kHostChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=[]:";
  if (host.find_first_not_of(kHostChars) != absl::string_view::npos) return std::nullopt;
  out.host = absl::AsciiStrToLower(host);
  if (absl::EndsWith(out.host, ".")) out.host.pop_back();  // "example.com." is example.com
  return out;
}

namespace {

// Istio's visibility of an object in `owner` exported to `to` (unset: every namespace).
bool Exported(const policy::ExportTo& export_to, const std::string& owner, const std::string& ns) {
  if (export_to.empty()) return true;
  for (const auto& e : export_to) {
    if (e == "*" || e == ns || (e == "." && owner == ns)) return true;
  }
  return false;
}

bool Wanted(IstioProtocol p, Registry::Want want) {
  switch (want) {
    case Registry::Want::kHttp:
      return p == IstioProtocol::kHTTP || p == IstioProtocol::kHTTP2 || p == IstioProtocol::kGRPC ||
             p == IstioProtocol::kAuto;
    case Registry::Want::kTls:
      return p == IstioProtocol::kTLS || p == IstioProtocol::kHTTPS || p == IstioProtocol::kAuto;
    case Registry::Want::kAny:
      break;
  }
  return p != IstioProtocol::kOther;
}

// A DestinationRule only its own namespace sees (Istio keeps those apart from exported ones).
bool PrivateOnly(const DestinationRule& d) {
  return d.export_to.size() == 1 && (d.export_to[0] == "." || d.export_to[0] == d.ns);
}

}  // namespace

Registry::Registry(const std::map<std::string, ServiceEntry>& entries,
                   const std::map<std::string, DestinationRule>& rules, RegistryOptions o)
    : o_(std::move(o)) {
  for (const auto& [key, se] : entries) {
    entries_.push_back(&se);
    std::vector<policy::Cidr> parsed;  // valid: checked when read
    for (const auto& a : se.addresses) {
      if (auto c = policy::ParseCidr(a); c.ok())
        parsed.push_back(*c);
      else if (auto one = policy::ParseIp(a); one.ok())
        parsed.push_back(policy::HostPrefix(*one));
    }
    addresses_.push_back(std::move(parsed));
    for (const auto& h : se.hosts) {
      if (absl::StartsWith(h, "*")) {
        wildcard_[h.substr(1)].push_back({&se, &h});
        partial_wildcards_ |= !absl::StartsWith(h, "*.");
      } else
        exact_[h].push_back({&se, &h});
    }
  }
  for (const auto& [key, dr] : rules) {
    if (!dr.workload_selector) rules_.push_back(&dr);  // a selector picks sidecars, not us
  }
}

bool Registry::Visible(const ServiceEntry& entry, const std::string& ns) {
  for (const auto& e : entry.export_to) {
    if (e == "~") return false;
  }
  return Exported(entry.export_to, entry.ns, ns);
}

std::optional<Registration> Registry::Lookup(const std::string& ns, const std::string& host,
                                             uint32_t port, Want want) const {
  // Among the entries of one pattern: the source's own namespace first, then in key order.
  auto pick = [&](const std::vector<Entry>& list) -> std::optional<Registration> {
    std::optional<Registration> other;
    for (const Entry& e : list) {
      if (!Visible(*e.entry, ns)) continue;
      for (const auto& p : e.entry->ports) {
        if (p.number != port || !Wanted(p.protocol, want)) continue;
        Registration r{e.entry, e.host, &p};
        if (e.entry->ns == ns) return r;
        if (!other) other = r;
      }
    }
    return other;
  };
  if (auto it = exact_.find(host); it != exact_.end()) {
    if (auto r = pick(it->second)) return r;
  }
  // Wildcards, the longest suffix first: "*.b.example.com" before "*.example.com".
  const absl::string_view h = host;
  for (size_t i = 1; i < h.size(); ++i) {
    if (h[i] != '.' && !partial_wildcards_) continue;
    auto it = wildcard_.find(h.substr(i));
    if (it == wildcard_.end()) continue;
    if (auto r = pick(it->second)) return r;
  }
  return std::nullopt;
}

std::optional<Registration> Registry::LookupAddress(const std::string& ns,
                                                    const policy::IpAddress& ip,
                                                    uint32_t port) const {
  std::optional<Registration> best;
  int best_len = -1;
  bool best_own = false;
  for (size_t e = 0; e < entries_.size(); ++e) {
    const ServiceEntry* se = entries_[e];
    if (!Visible(*se, ns)) continue;
    const policy::ServicePort* p = nullptr;
    for (const auto& sp : se->ports) {
      if (sp.number == port &&
          (sp.protocol == IstioProtocol::kTCP || sp.protocol == IstioProtocol::kAuto))
        p = &sp;
    }
    if (!p) continue;
    int len = -1;  // how specific: the longest address prefix holding `ip`
    if (se->addresses.empty()) {
      if (se->resolution == policy::Resolution::kNone) len = 0;
    } else {
      for (const policy::Cidr& c : addresses_[e]) {
        if (c.Contains(ip)) len = std::max(len, c.prefix_len);
      }
    }
    if (len < 0) continue;
    const bool own = se->ns == ns;
    if (len > best_len || (len == best_len && own && !best_own)) {
      best = Registration{se, &se->hosts.front(), p};
      best_len = len;
      best_own = own;
    }
  }
  return best;
}

Upstream Registry::UpstreamFor(const std::string& ns, const Registration& r) const {
  Upstream up;
  const std::string& host = *r.host;
  up.port = r.port->target_port ? r.port->target_port : r.port->number;
  // The most specific DestinationRule host for the service among `candidates`: its exact name,
  // else the longest wildcard that covers it (alphabetical among equals), the oldest first
  // (here: namespace/name order) among rules of that host.
  auto most_specific = [&](const std::vector<const DestinationRule*>& candidates)
      -> std::vector<const DestinationRule*> {
    const DestinationRule* best = nullptr;
    for (const auto* d : candidates) {
      if (d->host != host && !(absl::StartsWith(d->host, "*") && HostPatternMatches(d->host, host)))
        continue;
      const bool better = !best || (d->host == host && best->host != host) ||
                          (best->host != host && d->host != host &&
                           (d->host.size() > best->host.size() ||
                            (d->host.size() == best->host.size() && d->host < best->host)));
      if (better) best = d;
    }
    std::vector<const DestinationRule*> out;
    for (const auto* d : candidates) {
      if (best && d->host == best->host) out.push_back(d);
    }
    return out;
  };
  auto in_namespace = [&](const std::string& of, bool private_only) {
    std::vector<const DestinationRule*> out;
    for (const auto* d : rules_) {
      if (d->ns == of && PrivateOnly(*d) == private_only) out.push_back(d);
    }
    return out;
  };
  std::vector<const DestinationRule*> chosen;
  if (ns != o_.root_namespace) {
    std::vector<const DestinationRule*> local;
    for (const auto* d : rules_) {
      if (d->ns == ns && Exported(d->export_to, d->ns, ns)) local.push_back(d);
    }
    chosen = most_specific(local);
  } else {
    chosen = most_specific(in_namespace(o_.root_namespace, true));
  }
  for (const std::string& from : {r.entry->ns, o_.root_namespace}) {
    if (!chosen.empty()) break;
    std::vector<const DestinationRule*> exported;
    for (const auto* d : most_specific(in_namespace(from, false))) {
      if (Exported(d->export_to, d->ns, ns)) exported.push_back(d);
    }
    chosen = exported;
  }
  // Several rules of the same host: the first one with a traffic policy decides.
  for (const auto* d : chosen) {
    if (!d->traffic_policy) continue;
    up.rule = d;
    const std::optional<policy::ClientTls>* tls = &d->tls;
    for (const auto& pl : d->port_level) {
      if (pl.port == r.port->number) {
        tls = &pl.tls;  // a port's settings replace the whole policy for that port
        break;
      }
    }
    if (*tls) {
      up.tls = (*tls)->mode;
      up.settings = &**tls;
    }
    break;
  }
  return up;
}

std::vector<std::string> Registry::Hosts() const {
  std::vector<std::string> out;
  for (const auto& [h, _] : exact_) out.push_back(h);
  for (const auto& [suffix, _] : wildcard_) out.push_back("*" + suffix);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace warden::egress
