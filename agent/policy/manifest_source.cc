#include "agent/policy/manifest_source.h"

#include "agent/common/dir_watch.h"
#include "agent/policy/last_good.h"
#include "agent/policy/manifest_dir.h"

namespace warden::policy {

struct ManifestSourceCache {
  ParseCache parse;
  FileStamps stamps;
};

bool ManifestSource::Changed() {
  seen_ = common::DirFingerprint(dir_);
  return !loaded_ || *seen_ != fingerprint_;
}

LoadResult ManifestSource::Load() {
  // Taken before reading: a file that changes while it is read is read again next time.
  fingerprint_ = seen_ ? std::move(*seen_) : common::DirFingerprint(dir_);
  seen_.reset();
  loaded_ = true;
  std::vector<ManifestError> read_errors;
  if (!cache_) cache_ = std::make_shared<ManifestSourceCache>();
  Texts files = ReadManifestFiles(dir_, &read_errors, &cache_->stamps);
  return LoadKeepingLastGood(std::move(files), std::move(read_errors), &last_good_, &cache_->parse);
}

}  // namespace warden::policy
