// Running shell commands (/bin/sh) from tests and benchmarks.
#pragma once

#include <string>

namespace warden::testlib {

struct ShellResult {
  int code = -1;  // the exit status; -1 when the shell did not exit normally
  std::string out, err;
};

// Runs `cmd`; its stdout and stderr are captured separately. Redirections inside `cmd` (such
// as `2>&1`) apply as written.
ShellResult Sh(const std::string& cmd);

// Runs `cmd`; throws std::runtime_error naming it, with what it printed, when it fails.
void MustSh(const std::string& cmd);

// The stdout of `cmd` without its trailing newlines and spaces, whatever its exit status.
std::string ShOut(const std::string& cmd);

}  // namespace warden::testlib
