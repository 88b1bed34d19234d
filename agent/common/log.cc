#include "agent/common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace warden::common {

namespace {

std::atomic<int> g_min_level{static_cast<int>(LogLevel::kInfo)};
std::mutex g_write;

std::string UtcNow() {
  auto now = std::chrono::system_clock::now();
  const time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  snprintf(out, sizeof(out), "%s.%03dZ", buf, static_cast<int>(ms.count()));
  return out;
}

}  // namespace

std::string Rfc3339(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[64];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[80];
  snprintf(out, sizeof(out), "%s.%06lldZ", buf, static_cast<long long>((ns % 1000000000) / 1000));
  return out;
}

void SetLogLevel(LogLevel min) { g_min_level = static_cast<int>(min); }

absl::StatusOr<LogLevel> ParseLogLevel(const std::string& text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warning") return LogLevel::kWarning;
  if (text == "error") return LogLevel::kError;
  return absl::InvalidArgumentError(
      absl::StrCat("--log-level must be debug, info, warning or error, not \"", text, "\""));
}

void Logger::Write(LogLevel level, const std::string& message) const {
  if (static_cast<int>(level) < g_min_level.load(std::memory_order_relaxed)) return;
  static constexpr char kLetter[] = {'D', 'I', 'W', 'E'};
  std::string line = absl::StrCat(std::string(1, kLetter[static_cast<int>(level)]), UtcNow(), " ",
                                  component_, ": ", message, "\n");
  std::lock_guard<std::mutex> l(g_write);
  fwrite(line.data(), 1, line.size(), stderr);
  fflush(stderr);
}

}  // namespace warden::common
