#include "agent/common/watched_files.h"

#include <sys/stat.h>

namespace warden::common {

namespace {

int64_t Ns(const timespec& t) { return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; }

int64_t SteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool FileStamp::operator==(const FileStamp& o) const {
  return exists == o.exists && dev == o.dev && ino == o.ino && size == o.size &&
         mtime_ns == o.mtime_ns && ctime_ns == o.ctime_ns;
}

FileStamp StampOf(const std::string& path) {
  struct stat st;
  FileStamp s;
  if (stat(path.c_str(), &st) != 0) return s;
  s.exists = true;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = Ns(st.st_mtim);
  s.ctime_ns = Ns(st.st_ctim);
  return s;
}

WatchedFiles::WatchedFiles(std::vector<std::string> paths, std::chrono::milliseconds interval)
    : paths_(std::move(paths)),
      interval_(interval),
      next_look_ns_(SteadyNs() + std::chrono::nanoseconds(interval).count()),
      seen_(Stamps()) {}

std::vector<FileStamp> WatchedFiles::Stamps() const {
  std::vector<FileStamp> out;
  out.reserve(paths_.size());
  for (const auto& p : paths_) out.push_back(StampOf(p));
  return out;
}

bool WatchedFiles::Changed() {
  const int64_t now = SteadyNs();
  if (now < next_look_ns_.load(std::memory_order_relaxed)) return false;
  std::lock_guard<std::mutex> l(mu_);
  if (now < next_look_ns_.load(std::memory_order_relaxed)) return false;  // another thread looked
  return Look(now);
}

bool WatchedFiles::ChangedNow() {
  std::lock_guard<std::mutex> l(mu_);
  return Look(SteadyNs());
}

bool WatchedFiles::Look(int64_t now_ns) {
  next_look_ns_ = now_ns + std::chrono::nanoseconds(interval_).count();
  std::vector<FileStamp> now_stamps = Stamps();
  if (now_stamps == seen_) return false;
  seen_ = std::move(now_stamps);
  return true;
}

}  // namespace warden::common
