// The server name the gateway reads from a pod's ClientHello (agent/gateway/client_hello.h): any
// bytes are complete, incomplete or invalid, and a name read is a lower-case DNS name; a longer
// input never turns a complete hello back into an incomplete one.
#include <cstdint>
#include <cstdlib>

#include "agent/gateway/client_hello.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using warden::gateway::ClientHello;
  absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  ClientHello h = warden::gateway::ParseClientHello(bytes);
  for (char c : h.sni) {
    if (c >= 'A' && c <= 'Z') std::abort();
    if (c == '\0' || c == '\n' || c == '\r' || c == ' ') std::abort();
  }
  if (h.state == ClientHello::State::kDone) {
    std::string more(bytes);
    more += "extra";
    ClientHello again = warden::gateway::ParseClientHello(more);
    if (again.state != ClientHello::State::kDone || again.sni != h.sni) std::abort();
  }
  return 0;
}
