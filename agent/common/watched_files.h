// Whether files read once (a certificate, its key, the CA) have been replaced since, so that a
// daemon can take new ones without a restart. In Kubernetes such files are mounted from Secrets
// and replaced in place: the kubelet writes a new directory and swaps a `..data` symlink to it
// atomically, each file being a symlink through `..data`. So a file is known by what stat(2) says
// of the file its path leads to now (symlinks followed): device, inode, size, modification and
// change times. A rename over the file, a symlink swap and a rewrite in place each change that.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace warden::common {

struct FileStamp {
  bool exists = false;  // false: stat failed (gone, a dangling link): a state of its own
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileStamp& o) const;
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

// The stamp of the file `path` leads to now.
FileStamp StampOf(const std::string& path);

// A set of files read together, and whether any of them changed. Safe to call from any thread.
class WatchedFiles {
 public:
  // Remembers the files as they are now. They are looked at again at most once per `interval`
  // (a stat of each: cheap enough to ask on every new connection).
  explicit WatchedFiles(std::vector<std::string> paths,
                        std::chrono::milliseconds interval = std::chrono::seconds(30));

  // True once per change: when, looked at now (if `interval` has passed since the last look),
  // any file differs from the last look. The caller reads the files again; if they do not load
  // (a writer between files, a bad PEM), it keeps what it had and tries at the next change.
  bool Changed();
  // The same, looking now whatever the interval (at a reconnect, say).
  bool ChangedNow();

  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<FileStamp> Stamps() const;
  bool Look(int64_t now_ns);  // under mu_

  const std::vector<std::string> paths_;
  const std::chrono::milliseconds interval_;
  std::atomic<int64_t> next_look_ns_;  // steady clock: no look before this
  std::mutex mu_;
  std::vector<FileStamp> seen_;
};

}  // namespace warden::common
