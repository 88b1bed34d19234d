// The manifest files of a directory: every *.yaml, *.yml and *.json below it, recursively, in
// sorted path order, hidden entries (names starting with a dot) and everything below hidden
// directories left out. Symlinks to files are followed; symlinks to directories are not (so no
// walk can loop, and none leaves the directory), and each is reported, as is a symlink that
// cannot be resolved. A manifest that is not a regular file (a FIFO, a socket, a device), cannot
// be read or is larger than kMaxManifestFileBytes is reported and skipped: nothing in the
// directory can block, crash or exhaust the reader.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "agent/policy/manifest_assembly.h"
#include "agent/policy/manifest_result.h"

namespace warden::policy {

// The largest manifest file read: over five times the largest request the API server accepts
// (3 MiB, apiserver's MaxRequestBodyBytes), room for a List of thousands of objects, and a bound
// on the memory one file can take.
inline constexpr off_t kMaxManifestFileBytes = 16 << 20;

// What stat() says about a file read earlier, and when it was read: if none of it changed and
// the file had not been modified for a second when it was read (so a write within the same
// timestamp tick cannot hide behind an unchanged mtime), the content read then is still the
// file's content.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  int64_t mtime_ns = 0, ctime_ns = 0, read_at_ns = 0;
  Text text;
};
using FileStamps = std::map<std::string, FileStamp>;  // by path

// The files and their contents; what cannot be listed or read goes to `errors`, each error
// naming the path (a file, a symlink or a directory) it is about. With `stamps`, a file whose
// stamp still holds is not read again, and `stamps` becomes this reading's.
Texts ReadManifestFiles(const std::string& dir, std::vector<ManifestError>* errors,
                        FileStamps* stamps);

}  // namespace warden::policy
