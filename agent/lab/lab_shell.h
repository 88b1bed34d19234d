// Running the command lines that build the lab (ip, sysctl, openssl): quietly, and when one
// fails, again with its output shown, failing with the command named.
#pragma once

#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden::lab {

absl::Status RunCommand(const std::string& command);

// The command line made of `parts` (absl::StrCat).
template <typename... Parts>
absl::Status Sh(const Parts&... parts) {
  return RunCommand(absl::StrCat(parts...));
}

// Each command in order, stopping at the first that fails.
absl::Status ShAll(std::initializer_list<std::string> commands);

}  // namespace warden::lab
