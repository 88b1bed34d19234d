#include "agent/common/dir_watch.h"

#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace warden::common {

absl::StatusOr<DirWatch> DirWatch::Open(const std::string& dir) {
  DirWatch w;
  w.fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (w.fd_ < 0) return absl::InternalError(absl::StrCat("inotify: ", std::strerror(errno)));
  w.dir_ = dir;
  w.AddTree(dir);
  if (w.wds_.empty()) return absl::NotFoundError(absl::StrCat("cannot watch ", dir));
  return w;
}

DirWatch::~DirWatch() {
  if (fd_ >= 0) close(fd_);
}

void DirWatch::AddTree(const std::string& dir) {
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                             IN_DELETE_SELF | IN_ATTRIB;
  auto add = [&](const std::string& d) {
    int wd = inotify_add_watch(fd_, d.c_str(), kMask);
    if (wd >= 0) wds_[wd] = d;
  };
  add(dir);
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    // Without an error_code, an entry that cannot be resolved (a symlink loop) would throw.
    std::error_code entry_ec;
    if (it->is_directory(entry_ec)) add(it->path().string());
  }
}

bool DirWatch::Wait(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return false;
  alignas(inotify_event) char buf[8192];
  bool new_dir = false;
  ssize_t n;
  while ((n = read(fd_, buf, sizeof(buf))) > 0) {
    for (char* ptr = buf; ptr < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(ptr);
      if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO))) new_dir = true;
      ptr += sizeof(inotify_event) + ev->len;
    }
  }
  if (new_dir) AddTree(dir_);
  return true;
}

std::string DirFingerprint(const std::string& dir) {
  namespace fs = std::filesystem;
  std::string fp;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st;
    if (stat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    absl::StrAppend(&fp, it->path().string(), ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":",
                    st.st_size, ";");
  }
  if (ec) absl::StrAppend(&fp, "error:", ec.message());
  return fp;
}

}  // namespace warden::common
