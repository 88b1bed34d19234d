#include "agent/lab/lab_shell.h"

#include <sys/wait.h>

#include <cstdlib>

#include "agent/common/status_macros.h"

namespace warden::lab {

absl::Status RunCommand(const std::string& command) {
  int rc = std::system((command + " >/dev/null 2>&1").c_str());
  if (rc != 0) {
    // Run it again to show what it said.
    std::system((command + " 1>&2").c_str());
    return absl::InternalError(absl::StrCat("`", command, "` failed (exit ", WEXITSTATUS(rc), ")"));
  }
  return absl::OkStatus();
}

absl::Status ShAll(std::initializer_list<std::string> commands) {
  for (const auto& c : commands) WD_RETURN_IF_ERROR(RunCommand(c));
  return absl::OkStatus();
}

}  // namespace warden::lab
