#include "agent/policy/manifest_source.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "agent/policy/manifest_assembly.h"
#include "agent/policy/manifest_dir.h"

namespace warden::policy {

struct ManifestSourceCache {
  ParseCache parse;
  FileStamps stamps;
};

namespace {

using LastGood = std::map<std::string, std::shared_ptr<const std::string>>;

std::set<std::string> FilesWithErrors(const LoadResult& r) {
  std::set<std::string> files;
  for (const auto& e : r.errors) files.insert(e.file);
  return files;
}

// The files of `files` not in `bad`.
LastGood ValidFiles(const Texts& files, const std::set<std::string>& bad) {
  LastGood good;
  for (const auto& [p, c] : files) {
    if (!bad.count(p)) good.emplace_hint(good.end(), p, c);
  }
  return good;
}

// `files` with each of `bad` replaced by its last valid version, or left out when it has none.
Texts WithLastGood(const Texts& files, const std::set<std::string>& bad, const LastGood& last_good,
                   std::vector<std::string>* notes) {
  Texts out;
  for (const auto& [p, c] : files) {
    if (!bad.count(p)) {
      out.emplace_back(p, c);
    } else if (auto it = last_good.find(p); it != last_good.end()) {
      out.emplace_back(p, it->second);
      notes->push_back(absl::StrCat(p, ": invalid; keeping its last valid version in force"));
    }
  }
  return out;
}

}  // namespace

LoadResult ManifestSource::Load() {
  std::vector<ManifestError> read_errors;
  if (!cache_) cache_ = std::make_shared<ManifestSourceCache>();
  Texts files = ReadManifestFiles(dir_, &read_errors, &cache_->stamps);
  if (!read_errors.empty() && files.empty()) {
    // The directory itself is unreadable: keep everything as it was.
    for (const auto& [p, c] : last_good_) files.emplace_back(p, c);
  }
  LoadResult first = LoadTexts(files, &cache_->parse);
  std::set<std::string> bad = FilesWithErrors(first);
  if (bad.empty()) {
    last_good_ = ValidFiles(files, bad);
    first.errors.insert(first.errors.begin(), read_errors.begin(), read_errors.end());
    return first;
  }
  // Again, with each invalid file replaced by its last valid version (or left out).
  Texts substituted = WithLastGood(files, bad, last_good_, &first.notes);
  LoadResult out = LoadTexts(substituted, &cache_->parse);
  last_good_ = ValidFiles(substituted, FilesWithErrors(out));
  out.errors = std::move(first.errors);  // report what is wrong with the files as they are now
  out.errors.insert(out.errors.begin(), read_errors.begin(), read_errors.end());
  out.notes = std::move(first.notes);
  return out;
}

}  // namespace warden::policy
