// Whole-file reads and atomic whole-file writes.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::common {

// NotFound naming the path when it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Writes `content` to PATH.tmp, syncs it and renames it over `path`: readers see the old file or
// the new one, never a part, also after a crash.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);

// Writes all of `content` to `fd` (short writes and EINTR retried); an error names `what`.
absl::Status WriteAll(int fd, const std::string& content, const std::string& what);

}  // namespace warden::common
