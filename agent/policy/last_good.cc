#include "agent/policy/last_good.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"

namespace warden::policy {

namespace {

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

// `path` is `dir` or below it.
bool AtOrBelow(const std::string& path, const std::string& dir) {
  if (!path.starts_with(dir)) return false;
  return path.size() == dir.size() || dir.ends_with('/') || path[dir.size()] == '/';
}

// `files` with the last valid version of each file that could not be read this time (itself
// unreadable, or below a directory that could not be listed): one that exists but cannot be
// read is treated as one that turned invalid, not as one deleted, so an unreadable file or
// directory never changes what is enforced.
Texts WithUnreadableKept(Texts files, const std::vector<ManifestError>& read_errors,
                         const LastGood& last_good, std::vector<std::string>* notes) {
  if (read_errors.empty()) return files;
  std::set<std::string> read;
  for (const auto& [p, c] : files) read.insert(p);
  for (const auto& e : read_errors) {
    int kept = 0;
    // The paths starting with e.file are contiguous in the map; not all of them are below it.
    for (auto it = last_good.lower_bound(e.file);
         it != last_good.end() && it->first.starts_with(e.file); ++it) {
      if (AtOrBelow(it->first, e.file) && read.insert(it->first).second) {
        files.emplace_back(it->first, it->second);
        ++kept;
      }
    }
    if (kept > 0)
      notes->push_back(absl::StrCat(e.file, ": cannot be read; keeping the last valid version of ",
                                    kept, kept == 1 ? " file" : " files", " in force"));
  }
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return files;
}

}  // namespace

LoadResult LoadKeepingLastGood(Texts files, std::vector<ManifestError> read_errors,
                               LastGood* last_good, ParseCache* cache) {
  std::vector<std::string> read_notes;
  files = WithUnreadableKept(std::move(files), read_errors, *last_good, &read_notes);
  LoadResult first = LoadTexts(files, cache);
  first.notes.insert(first.notes.begin(), read_notes.begin(), read_notes.end());
  std::set<std::string> bad = FilesWithErrors(first);
  if (bad.empty()) {
    *last_good = ValidFiles(files, bad);
    first.errors.insert(first.errors.begin(), read_errors.begin(), read_errors.end());
    return first;
  }
  // Again, with each invalid file replaced by its last valid version (or left out).
  Texts substituted = WithLastGood(files, bad, *last_good, &first.notes);
  LoadResult out = LoadTexts(substituted, cache);
  *last_good = ValidFiles(substituted, FilesWithErrors(out));
  out.errors = std::move(first.errors);  // report what is wrong with the texts as they are now
  out.errors.insert(out.errors.begin(), read_errors.begin(), read_errors.end());
  out.notes = std::move(first.notes);
  return out;
}

}  // namespace warden::policy
