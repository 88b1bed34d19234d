#include "agent/policy/manifest_dir.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace warden::policy {
namespace {

namespace fs = std::filesystem;

int64_t Ns(const struct timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

bool IsManifestName(const fs::path& p) {
  std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

// The manifest paths below `dir`, sorted; nullopt (reported) when it cannot be listed.
std::optional<std::vector<std::string>> ListManifestPaths(const std::string& dir,
                                                          std::vector<ManifestError>* errors) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    errors->push_back(ManifestError{dir, 0, "", "", "not a readable directory"});
    return std::nullopt;
  }
  std::vector<std::string> paths;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    // Hidden entries are not manifests: a ConfigMap volume keeps its files in a hidden
    // `..<timestamp>/` directory behind the visible links, and would otherwise load twice.
    if (it->path().filename().string().starts_with(".")) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && IsManifestName(it->path())) paths.push_back(it->path().string());
  }
  if (ec) {
    errors->push_back(ManifestError{dir, 0, "", "", absl::StrCat("cannot list: ", ec.message())});
    return std::nullopt;
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

bool StampHolds(const FileStamp& old, const struct stat& st) {
  return old.dev == st.st_dev && old.ino == st.st_ino && old.size == st.st_size &&
         old.mtime_ns == Ns(st.st_mtim) && old.ctime_ns == Ns(st.st_ctim) &&
         old.ctime_ns < old.read_at_ns - 1000000000;
}

// The content of `path`, and its stamp in `stamps` when `st` is known.
Text ReadFile(const std::string& path, const struct stat* st, std::vector<ManifestError>* errors,
              FileStamps* stamps) {
  struct timespec now {};
  clock_gettime(CLOCK_REALTIME, &now);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    errors->push_back(ManifestError{path, 0, "", "", "cannot read file"});
    return nullptr;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  Text text = std::make_shared<const std::string>(ss.str());
  if (st) {
    stamps->emplace(path, FileStamp{st->st_dev, st->st_ino, st->st_size, Ns(st->st_mtim),
                                    Ns(st->st_ctim), Ns(now), text});
  }
  return text;
}

}  // namespace

Texts ReadManifestFiles(const std::string& dir, std::vector<ManifestError>* errors,
                        FileStamps* stamps) {
  Texts files;
  auto paths = ListManifestPaths(dir, errors);
  if (!paths) return files;
  FileStamps fresh;
  for (const auto& p : *paths) {
    struct stat st {};
    bool have_stat = ::stat(p.c_str(), &st) == 0;
    if (stamps && have_stat) {
      auto it = stamps->find(p);
      if (it != stamps->end() && StampHolds(it->second, st)) {
        files.emplace_back(p, it->second.text);
        fresh.emplace(p, it->second);
        continue;
      }
    }
    if (Text text = ReadFile(p, have_stat ? &st : nullptr, errors, &fresh))
      files.emplace_back(p, text);
  }
  if (stamps) *stamps = std::move(fresh);
  return files;
}

}  // namespace warden::policy
