// The lab's PKI: a CA, and per name a key and a certificate for server and client auth whose
// SANs hold the name (and an address, when given): what scripts/gen-certs does for real
// deployments. Made with openssl; valid for 30 days.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace warden::lab {

struct LabCert {
  std::string name;  // CN and DNS SAN
  std::string ip;    // an IP SAN too, when not empty
};

absl::Status MakePki(const std::string& dir, const std::vector<LabCert>& certs);

std::string CaPath(const std::string& dir);
std::string CertPath(const std::string& dir, const std::string& name);
std::string KeyPath(const std::string& dir, const std::string& name);

}  // namespace warden::lab
