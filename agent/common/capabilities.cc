#include "agent/common/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"

namespace warden::common {

absl::StatusOr<CapabilitySet> EffectiveCapabilities(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  if (!in) return absl::NotFoundError(absl::StrCat("process ", pid, " is gone"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    uint64_t caps = 0;
    std::string hex = line.substr(7);
    hex.erase(0, hex.find_first_not_of(" \t"));
    if (!absl::SimpleHexAtoi(hex, &caps))
      return absl::DataLossError(absl::StrCat("/proc/", pid, "/status: CapEff \"", hex, "\""));
    return caps;
  }
  return absl::NotFoundError(absl::StrCat("process ", pid, " is gone"));
}

absl::StatusOr<CapabilitySet> OwnEffectiveCapabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0)
    return absl::InternalError(absl::StrCat("capget: ", strerror(errno)));
  return CapabilitySet{data[0].effective} | CapabilitySet{data[1].effective} << 32;
}

absl::StatusOr<CapabilitySet> EffectiveCapabilitiesInCgroup(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec))
    return absl::NotFoundError(absl::StrCat("cgroup ", path, " is gone"));
  CapabilitySet all = 0;
  for (pid_t pid : CgroupTreeProcesses(path)) {
    if (auto caps = EffectiveCapabilities(pid); caps.ok()) all |= *caps;  // gone: nothing
  }
  return all;
}

absl::Status KeepOnlyCapabilities(CapabilitySet keep) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0)
    return absl::InternalError(absl::StrCat("capget: ", strerror(errno)));
  // Asking capset for a capability this process lacks fails: keep only what it holds.
  keep &= CapabilitySet{data[0].permitted} | CapabilitySet{data[1].permitted} << 32;

  // Ambient capabilities would be added to the program's permitted set on execve. (EINVAL: a
  // kernel without ambient capabilities, nothing to clear.)
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
    return absl::InternalError(
        absl::StrCat("clearing the ambient capabilities: ", strerror(errno)));
  // PR_CAPBSET_READ fails past the kernel's last capability: every one the kernel knows is
  // dropped, also those newer than these headers.
  for (int n = 0; prctl(PR_CAPBSET_READ, n, 0, 0, 0) >= 0; ++n) {
    if (n < 64 && (keep & Capability(n))) continue;
    if (prctl(PR_CAPBSET_DROP, n, 0, 0, 0) != 0) {
      return absl::InternalError(absl::StrCat("dropping ", CapabilityName(n),
                                              " from the bounding set: ", strerror(errno)));
    }
  }
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
    uint32_t word = static_cast<uint32_t>(keep >> (32 * i));
    data[i] = __user_cap_data_struct{word, word, 0};  // effective, permitted, inheritable
  }
  if (syscall(SYS_capset, &header, data) != 0)
    return absl::InternalError(absl::StrCat("capset: ", strerror(errno)));
  return absl::OkStatus();
}

std::string CapabilityName(int n) {
  static const char* kNames[] = {"CHOWN",
                                 "DAC_OVERRIDE",
                                 "DAC_READ_SEARCH",
                                 "FOWNER",
                                 "FSETID",
                                 "KILL",
                                 "SETGID",
                                 "SETUID",
                                 "SETPCAP",
                                 "LINUX_IMMUTABLE",
                                 "NET_BIND_SERVICE",
                                 "NET_BROADCAST",
                                 "NET_ADMIN",
                                 "NET_RAW",
                                 "IPC_LOCK",
                                 "IPC_OWNER",
                                 "SYS_MODULE",
                                 "SYS_RAWIO",
                                 "SYS_CHROOT",
                                 "SYS_PTRACE",
                                 "SYS_PACCT",
                                 "SYS_ADMIN",
                                 "SYS_BOOT",
                                 "SYS_NICE",
                                 "SYS_RESOURCE",
                                 "SYS_TIME",
                                 "SYS_TTY_CONFIG",
                                 "MKNOD",
                                 "LEASE",
                                 "AUDIT_WRITE",
                                 "AUDIT_CONTROL",
                                 "SETFCAP",
                                 "MAC_OVERRIDE",
                                 "MAC_ADMIN",
                                 "SYSLOG",
                                 "WAKE_ALARM",
                                 "BLOCK_SUSPEND",
                                 "AUDIT_READ",
                                 "PERFMON",
                                 "BPF",
                                 "CHECKPOINT_RESTORE"};
  if (n >= 0 && n < static_cast<int>(sizeof(kNames) / sizeof(kNames[0]))) return kNames[n];
  return absl::StrCat("CAP_", n);
}

}  // namespace warden::common
