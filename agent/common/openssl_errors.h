// OpenSSL's error queue of this thread as one message (it is emptied): what the gateway and the
// node's forwarder report when a TLS call fails.
#pragma once

#include <string>

namespace warden::common {

// The queued errors, "; "-separated; "" when there are none.
std::string OpenSslErrors();

}  // namespace warden::common
