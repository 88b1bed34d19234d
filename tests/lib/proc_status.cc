#include "tests/lib/proc_status.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace warden::testlib {

namespace {

// The number after "field:" on the line of /proc/PID/`file` that starts with it, or -1. The path
// is built without a heap allocation: compile_bench reads its own figures between measurements
// of the heap, and an allocation here changes where the next ones land.
long FieldKb(pid_t pid, const char* file, const char* field) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/%s", static_cast<int>(pid), file);
  std::ifstream in(path);
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
  }
  return -1;
}

}  // namespace

long StatusKb(pid_t pid, const char* field) { return FieldKb(pid, "status", field); }

long SmapsRollupKb(pid_t pid, const char* field) { return FieldKb(pid, "smaps_rollup", field); }

namespace {
// utime and stime of /proc/PID/stat, in clock ticks (both 0 once the process is gone).
std::pair<unsigned long long, unsigned long long> CpuTicks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  size_t close_paren = s.rfind(')');
  if (close_paren == std::string::npos) return {0, 0};
  std::istringstream fields(s.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) {
      stime = std::strtoull(field.c_str(), nullptr, 10);
      break;
    }
  }
  return {utime, stime};
}
}  // namespace

double CpuSeconds(pid_t pid) {
  auto [utime, stime] = CpuTicks(pid);
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

double KernelSeconds(pid_t pid) {
  return static_cast<double>(CpuTicks(pid).second) / sysconf(_SC_CLK_TCK);
}

long long SchedstatNs(pid_t pid) {
  long long total = 0;
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "schedstat");
    long long ns = 0;
    if (in >> ns) total += ns;
  }
  return total;
}

}  // namespace warden::testlib
