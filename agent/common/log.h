// The daemons' log: one line per message on standard error,
//   "I2026-12-06T11:56:30.123Z warden node default-1: attached 8 programs ..."
// (a level letter D/I/W/E, the UTC time, the component, the message). Lines below the level set
// with SetLogLevel (default info) are dropped. Verdicts and access logs are data, not this log:
// they go to their own JSON-lines files.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace warden::common {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel min);
// A wall-clock time (ns since the epoch) as the JSON-lines logs write it:
// "2026-12-06T11:56:30.123456Z".
std::string Rfc3339(int64_t wall_ns);
// "debug", "info", "warning" or "error"; the error names the flag.
absl::StatusOr<LogLevel> ParseLogLevel(const std::string& text);

class Logger {
 public:
  explicit Logger(std::string component) : component_(std::move(component)) {}

  template <typename... A>
  void Debug(const A&... a) const {
    Write(LogLevel::kDebug, absl::StrCat(a...));
  }
  template <typename... A>
  void Info(const A&... a) const {
    Write(LogLevel::kInfo, absl::StrCat(a...));
  }
  template <typename... A>
  void Warning(const A&... a) const {
    Write(LogLevel::kWarning, absl::StrCat(a...));
  }
  template <typename... A>
  void Error(const A&... a) const {
    Write(LogLevel::kError, absl::StrCat(a...));
  }
  const std::string& component() const { return component_; }

 private:
  void Write(LogLevel level, const std::string& message) const;
  std::string component_;
};

}  // namespace warden::common
