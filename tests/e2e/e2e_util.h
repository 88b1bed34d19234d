// Running the warden binary from end-to-end tests.
#pragma once

#include <string>

#include "tests/lib/shell.h"

namespace warden::e2e {

using Result = testlib::ShellResult;
using testlib::Sh;

inline std::string WardenBin() { return std::string(WARDEN_BINARY_DIR) + "/bin/warden"; }

inline Result Warden(const std::string& args) { return Sh(WardenBin() + " " + args); }

}  // namespace warden::e2e
