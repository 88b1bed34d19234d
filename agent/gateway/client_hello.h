// The server name (SNI) a TLS client asks for, read from its ClientHello before anything is
// forwarded: how the gateway authorizes a passthrough flow by name. The hello may span several
// records and arrive in pieces; it is read from the bytes buffered so far, never beyond them.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace warden::gateway {

// The most bytes buffered for one ClientHello: a real one is well under this (post-quantum key
// shares included), and a peer must not make the gateway hold more before deciding.
inline constexpr size_t kMaxClientHelloBytes = 16384;

struct ClientHello {
  enum class State {
    kNeedMore,  // the hello is not complete yet: read more
    kDone,      // complete: `sni` holds the server name, empty when the client sent none
    kInvalid,   // not a TLS ClientHello (or malformed, or larger than the limit): `error` says why
  };
  State state = State::kNeedMore;
  std::string sni;  // lower-case
  std::string error;
};

ClientHello ParseClientHello(absl::string_view bytes);

}  // namespace warden::gateway
