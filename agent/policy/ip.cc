#include "agent/policy/ip.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::policy {

namespace {
// True when the first `len` bits of a and b agree.
bool PrefixEqual(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int len) {
  int full = len / 8;
  if (std::memcmp(a.data(), b.data(), full) != 0) return false;
  int rest = len % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}
}  // namespace

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == Family::kV4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

bool Cidr::Contains(const IpAddress& ip) const {
  return ip.family == addr.family && PrefixEqual(addr.bytes, ip.bytes, prefix_len);
}

bool Cidr::Covers(const Cidr& inner) const {
  return inner.addr.family == addr.family && inner.prefix_len >= prefix_len &&
         PrefixEqual(addr.bytes, inner.addr.bytes, prefix_len);
}

std::string Cidr::ToString() const { return absl::StrCat(addr.ToString(), "/", prefix_len); }

absl::StatusOr<IpAddress> ParseIp(absl::string_view text) {
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    ip.family = Family::kV4;
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) == 1) return ip;
  } else {
    ip.family = Family::kV6;
    if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) == 1) return ip;
  }
  return absl::InvalidArgumentError(absl::StrCat("\"", s, "\" is not a valid IP address"));
}

absl::StatusOr<Cidr> ParseCidr(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", text, "\" is not a valid CIDR (expected address/prefix-length)"));
  }
  auto ip = ParseIp(text.substr(0, slash));
  absl::string_view len_text = text.substr(slash + 1);
  int len = -1;
  bool digits = !len_text.empty() && len_text.size() <= 3 &&
                len_text.find_first_not_of("0123456789") == absl::string_view::npos;
  if (!ip.ok() || !digits || !absl::SimpleAtoi(len_text, &len) || len > ip->bits()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a valid CIDR"));
  }
  Cidr c;
  c.addr = *ip;
  c.prefix_len = len;
  // Clear host bits so that equal prefixes compare equal.
  for (int i = 0; i < 16; ++i) {
    int bit0 = i * 8;
    if (bit0 >= len) {
      c.addr.bytes[i] = 0;
    } else if (bit0 + 8 > len) {
      c.addr.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (len - bit0)));
    }
  }
  return c;
}

Cidr HostPrefix(const IpAddress& ip) { return Cidr{ip, ip.bits()}; }

namespace {
constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
bool IsMapped(const IpAddress& ip) {
  return ip.family == Family::kV6 &&
         std::memcmp(ip.bytes.data(), kMapped.data(), kMapped.size()) == 0;
}
}  // namespace

bool IsLoopback(const IpAddress& ip) {
  if (ip.family == Family::kV4) return ip.bytes[0] == 127;
  static constexpr std::array<uint8_t, 16> kOne = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (ip.bytes == kOne) return true;
  return IsMapped(ip) && ip.bytes[12] == 127;
}

IpAddress SocketDestination(const IpAddress& ip) {
  const size_t from = IsMapped(ip) ? kMapped.size() : 0;
  const size_t to = ip.family == Family::kV4 ? 4 : 16;
  for (size_t i = from; i < to; ++i) {
    if (ip.bytes[i]) return ip;
  }
  IpAddress lo = ip;
  if (ip.family == Family::kV4 || from) lo.bytes[from] = 127;
  lo.bytes[to - 1] = 1;
  return lo;
}

}  // namespace warden::policy
