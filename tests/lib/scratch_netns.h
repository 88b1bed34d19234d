// A network namespace of a test's own (/var/run/netns/NAME): loopback up, holding the addresses
// the test gives it (each a /32 or /128 on lo); deleted with the object. And an IPv4 socket
// address from text, for the tests' sockets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>

#include "tests/lib/shell.h"

namespace warden::testlib {

class ScratchNetns {
 public:
  ScratchNetns(std::string name, std::initializer_list<const char*> loopback_addresses)
      : name_(std::move(name)) {
    MustSh("ip netns add " + name_);
    MustSh("ip -n " + name_ + " link set lo up");
    for (const char* a : loopback_addresses)
      MustSh("ip -n " + name_ + " addr add " + a + " dev lo");
  }
  ~ScratchNetns() { Sh("ip netns del " + name_); }
  ScratchNetns(const ScratchNetns&) = delete;
  ScratchNetns& operator=(const ScratchNetns&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

inline sockaddr_in SockAddr4(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

}  // namespace warden::testlib
