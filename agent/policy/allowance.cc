#include "agent/policy/allowance.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::policy {

std::string Allowance::ToString() const {
  std::string s = cidr.ToString();
  if (port_lo != 0 || port_hi != 65535) {
    absl::StrAppend(&s, ":", port_lo);
    if (port_hi != port_lo) absl::StrAppend(&s, "-", port_hi);
  }
  if (protocol) absl::StrAppend(&s, "/", ProtocolName(*protocol));
  return s;
}

absl::StatusOr<Allowance> ParseAllowance(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("allowance \"", text, "\": ", why,
                                                   " (expected CIDR[:PORT[-END]][/TCP|UDP|SCTP])"));
  };
  Allowance a;
  std::string rest = text;
  // The protocol, if any, follows the last '/' that comes after a ':' or the prefix length.
  size_t slash = rest.rfind('/');
  if (slash != std::string::npos) {
    if (auto p = ParseProtocol(rest.substr(slash + 1))) {
      a.protocol = *p;
      rest = rest.substr(0, slash);
    }
  }
  size_t colon = rest.rfind(':');
  size_t plen = rest.rfind('/');
  std::string cidr = rest, ports;
  if (colon != std::string::npos && plen != std::string::npos && colon > plen) {
    cidr = rest.substr(0, colon);
    ports = rest.substr(colon + 1);
  }
  auto c = ParseCidr(cidr);
  if (!c.ok()) return bad(std::string(c.status().message()));
  a.cidr = *c;
  if (!ports.empty()) {
    size_t dash = ports.find('-');
    int lo = 0, hi = 0;
    if (!absl::SimpleAtoi(ports.substr(0, dash), &lo) ||
        !absl::SimpleAtoi(
            dash == std::string::npos ? ports.substr(0, dash) : ports.substr(dash + 1), &hi) ||
        lo < 1 || hi > 65535 || hi < lo) {
      return bad("bad port or range");
    }
    a.port_lo = static_cast<uint16_t>(lo);
    a.port_hi = static_cast<uint16_t>(hi);
  }
  return a;
}

}  // namespace warden::policy
