#include "agent/policy/manifest_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace warden::policy {
namespace {

namespace fs = std::filesystem;

int64_t Ns(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

bool IsManifestName(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

void Report(std::vector<ManifestError>* errors, const std::string& path, std::string message) {
  errors->push_back(ManifestError{path, 0, "", "", std::move(message)});
}

std::string ErrnoText(int err) {
  if (err == ELOOP) return "a symlink loop (too many levels of symbolic links)";
  return std::strerror(err);
}

const char* FileTypeName(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode)) return "a directory";
  return "a file of an unknown type";
}

// Why a file with this stat() cannot be a manifest, or "" when it can be read as one.
std::string Unreadable(const struct stat& st) {
  if (!S_ISREG(st.st_mode))
    return absl::StrCat("skipped: ", FileTypeName(st.st_mode), ", not a regular file");
  if (st.st_size > kMaxManifestFileBytes) {
    return absl::StrCat("skipped: ", st.st_size, " bytes, more than a manifest file may hold (",
                        kMaxManifestFileBytes, ")");
  }
  return "";
}

struct DirId {
  dev_t dev;
  ino_t ino;
  bool operator==(const DirId&) const = default;
};

// The manifest paths below `dir` (whose own identity ends `chain`, the directories from the root
// down), in directory order. Directories are entered only through real entries, never through
// symlinks, and never twice along one path (a bind mount can make a real cycle), so the walk
// ends.
void ListManifestPaths(const std::string& dir, std::vector<DirId>* chain,
                       std::vector<std::string>* paths, std::vector<ManifestError>* errors) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    // Hidden entries are not manifests: a ConfigMap volume keeps its files in a hidden
    // `..<timestamp>/` directory behind the visible links, and would otherwise load twice.
    if (p.filename().string().starts_with(".")) continue;
    const std::string path = p.string();
    // The entry's own type usually comes with the listing (no system call); only symlinks and
    // directories need a stat().
    std::error_code type_ec;
    const fs::file_type type = it->symlink_status(type_ec).type();
    if (type_ec) continue;  // gone since it was listed
    const bool link = type == fs::file_type::symlink;
    struct stat st {};
    if (link && ::stat(path.c_str(), &st) != 0) {
      Report(errors, path, absl::StrCat("cannot follow this symlink: ", ErrnoText(errno)));
      continue;
    }
    if ((!link && type != fs::file_type::directory) || (link && !S_ISDIR(st.st_mode))) {
      // Whatever it is (a FIFO too), a manifest name makes it a manifest path; reading it says
      // what is wrong with it.
      if (IsManifestName(p)) paths->push_back(path);
      continue;
    }
    if (!link && ::stat(path.c_str(), &st) != 0) continue;  // gone since it was listed
    const DirId id{st.st_dev, st.st_ino};
    const bool cycle = std::find(chain->begin(), chain->end(), id) != chain->end();
    if (link) {
      Report(errors, path,
             cycle ? "not followed: a symlink to a directory above it (a cycle)"
                   : "not followed: a symlink to a directory (the manifests below it are not "
                     "read)");
    } else if (cycle) {
      Report(errors, path, "not entered: the same directory as one above it (a cycle)");
    } else {
      chain->push_back(id);
      ListManifestPaths(path, chain, paths, errors);
      chain->pop_back();
    }
  }
  if (ec) Report(errors, dir, absl::StrCat("cannot list: ", ec.message()));
}

// The manifest paths below `dir`, sorted; nullopt (reported) when `dir` is not a directory.
std::optional<std::vector<std::string>> ManifestPaths(const std::string& dir,
                                                      std::vector<ManifestError>* errors) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    Report(errors, dir, "not a readable directory");
    return std::nullopt;
  }
  std::vector<std::string> paths;
  std::vector<DirId> chain = {DirId{st.st_dev, st.st_ino}};
  ListManifestPaths(dir, &chain, &paths, errors);
  std::sort(paths.begin(), paths.end());
  return paths;
}

bool StampHolds(const FileStamp& old, const struct stat& st) {
  return old.dev == st.st_dev && old.ino == st.st_ino && old.size == st.st_size &&
         old.mtime_ns == Ns(st.st_mtim) && old.ctime_ns == Ns(st.st_ctim) &&
         old.ctime_ns < old.read_at_ns - 1000000000;
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// The content of `path`, and its stamp in `stamps`; nullptr after reporting why it cannot be
// read. The path is checked again on the open file: it may have been replaced since it was
// listed, and opening never blocks (O_NONBLOCK: a FIFO put there meanwhile is refused, not
// waited on).
Text ReadFile(const std::string& path, std::vector<ManifestError>* errors, FileStamps* stamps) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  struct stat st {};
  if (fd.get() < 0 || ::fstat(fd.get(), &st) != 0) {
    Report(errors, path, absl::StrCat("cannot read: ", ErrnoText(errno)));
    return nullptr;
  }
  if (std::string why = Unreadable(st); !why.empty()) {
    Report(errors, path, why);
    return nullptr;
  }
  std::string content;
  content.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Report(errors, path, absl::StrCat("cannot read: ", ErrnoText(errno)));
      return nullptr;
    }
    if (n == 0) break;
    if (content.size() + static_cast<size_t>(n) > static_cast<size_t>(kMaxManifestFileBytes)) {
      Report(errors, path,
             absl::StrCat("skipped: grew past ", kMaxManifestFileBytes, " bytes while being read"));
      return nullptr;
    }
    content.append(buf, static_cast<size_t>(n));
  }
  Text text = std::make_shared<const std::string>(std::move(content));
  if (stamps) {
    stamps->emplace(path, FileStamp{st.st_dev, st.st_ino, st.st_size, Ns(st.st_mtim),
                                    Ns(st.st_ctim), Ns(now), text});
  }
  return text;
}

}  // namespace

Texts ReadManifestFiles(const std::string& dir, std::vector<ManifestError>* errors,
                        FileStamps* stamps) {
  Texts files;
  const size_t first_error = errors->size();
  auto paths = ManifestPaths(dir, errors);
  if (!paths) return files;
  FileStamps fresh;
  for (const auto& p : *paths) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      Report(errors, p, absl::StrCat("cannot read: ", ErrnoText(errno)));
      continue;
    }
    // Not opened at all when not a regular file: opening a device can have effects of its own.
    if (std::string why = Unreadable(st); !why.empty()) {
      Report(errors, p, why);
      continue;
    }
    if (stamps) {
      auto it = stamps->find(p);
      if (it != stamps->end() && StampHolds(it->second, st)) {
        files.emplace_back(p, it->second.text);
        fresh.emplace(p, it->second);
        continue;
      }
    }
    if (Text text = ReadFile(p, errors, stamps ? &fresh : nullptr)) files.emplace_back(p, text);
  }
  if (stamps) *stamps = std::move(fresh);
  // By path, whatever order the directory listed its entries in.
  std::stable_sort(errors->begin() + first_error, errors->end(),
                   [](const ManifestError& a, const ManifestError& b) { return a.file < b.file; });
  return files;
}

}  // namespace warden::policy
