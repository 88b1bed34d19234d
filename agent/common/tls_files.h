// A certificate, its key and a CA read from PEM files and checked before use: every certificate
// parses, the key parses and matches the certificate. For clients that hand the PEM text on
// (gRPC's SslCredentials does not look at it until a handshake fails), so that a bad file
// replacing a good one is found before the good one is given up.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace warden::common {

struct TlsPem {
  std::string cert, key, ca;  // PEM text
};

// Reads and checks the three files; the error names the file and what is wrong with it.
absl::StatusOr<TlsPem> LoadTlsPem(const std::string& cert, const std::string& key,
                                  const std::string& ca);

// Reads a CA file and checks it holds at least one certificate; its text.
absl::StatusOr<std::string> LoadCaPem(const std::string& ca);

}  // namespace warden::common
