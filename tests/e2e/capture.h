// The receiving side of an attack: every IP packet seen on every interface of a network
// namespace (AF_PACKET, both directions), recorded by a child of the test that entered the
// namespace, until Stop(). Exact and self-contained: no tcpdump, no filter language; the test
// looks for its own markers and addresses in what was seen.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace warden::e2e {

struct SeenPacket {
  int family = 0;  // 4 or 6
  std::string src, dst;
  uint8_t protocol = 0;  // the last header found (after IPv6 extension headers)
  uint16_t sport = 0, dport = 0;
  uint8_t icmp_type = 0, tcp_flags = 0;
  uint16_t ip_id = 0;
  bool outgoing = false;      // sent by this namespace
  std::vector<uint8_t> data;  // the whole IP packet

  bool Contains(const std::string& marker) const;
  std::string Describe() const;
};

class Capture {
 public:
  // Starts recording in /var/run/netns/`netns`; returns once the socket is open.
  explicit Capture(const std::string& netns);
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  ~Capture();  // ends the child (by its pid) if Stop() was not called

  // Waits `settle_ms` (packets still on their way), ends the recording, returns what was seen.
  std::vector<SeenPacket> Stop(int settle_ms = 500);

 private:
  pid_t child_ = -1;
  std::string file_;
};

// Packets of `seen` for which `match` holds, described one per line (empty: none).
std::string Matching(const std::vector<SeenPacket>& seen,
                     const std::function<bool(const SeenPacket&)>& match);

}  // namespace warden::e2e
