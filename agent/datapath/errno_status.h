// A failed libbpf or system call as an absl::Status: the errno picks the code (ENOENT ->
// NotFound, EPERM -> PermissionDenied, ...), the message says what was being done.
#pragma once

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace warden::datapath {

inline absl::Status Errno(const std::string& what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat(what, ": ", std::strerror(err)));
}

}  // namespace warden::datapath
