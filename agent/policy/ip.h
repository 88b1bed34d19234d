// IPv4/IPv6 addresses and CIDR prefixes, as NetworkPolicy ipBlocks and pod IPs use them.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::policy {

enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

struct IpAddress {
  Family family = Family::kV4;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses bytes[0..3]

  int bits() const { return family == Family::kV4 ? 32 : 128; }
  std::string ToString() const;
  auto operator<=>(const IpAddress&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& a) {
    return H::combine(std::move(h), a.family, a.bytes);
  }
};

// A prefix with its host bits cleared.
struct Cidr {
  IpAddress addr;
  int prefix_len = 0;

  bool Contains(const IpAddress& ip) const;
  // True when every address of `inner` is in this prefix.
  bool Covers(const Cidr& inner) const;
  std::string ToString() const;
  auto operator<=>(const Cidr&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Cidr& c) {
    return H::combine(std::move(h), c.addr, c.prefix_len);
  }
};

absl::StatusOr<IpAddress> ParseIp(absl::string_view text);
// Accepts "a.b.c.d/n" and "x::y/n" as the API server does, clearing host bits.
absl::StatusOr<Cidr> ParseCidr(absl::string_view text);
// The /32 or /128 prefix of one address.
Cidr HostPrefix(const IpAddress& ip);
// Whether `ip` is a loopback address: 127.0.0.0/8, ::1, or an IPv4-mapped 127.x.y.z (a
// dual-stack socket's connect to it is an IPv4 connect to 127.x.y.z). bpf/warden_verdict.h's
// wd_is_loopback is the kernel's side of it.
bool IsLoopback(const IpAddress& ip);

// Where the kernel sends a socket's connect or sendmsg to `ip`: the unspecified address (0.0.0.0,
// ::, ::ffff:0.0.0.0) goes to loopback of its kind (127.0.0.1, ::1, ::ffff:127.0.0.1); any other
// address is itself. bpf/warden_verdict.h's wd_unspecified_to_loopback is the kernel's side.
IpAddress SocketDestination(const IpAddress& ip);

}  // namespace warden::policy
