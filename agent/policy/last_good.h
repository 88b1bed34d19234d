// Loading a set of texts (manifest files, or objects from the Kubernetes API) so that a text
// that turns invalid keeps contributing the objects of its last valid version: a bad edit never
// loosens (or tightens) what is enforced, while its errors are still reported. A text that is
// gone stops contributing; one that could not be read this time is treated as one that turned
// invalid, not as one deleted.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/policy/manifest_assembly.h"

namespace warden::policy {

// path -> content of its last valid version (shared with the parse cache, not copied)
using LastGood = std::map<std::string, std::shared_ptr<const std::string>>;

// Loads `files` (sorted by path). `read_errors` name the paths (files, or directories: every
// path below) that could not be read this time. Updates `last_good`; `cache` keeps the parsed
// texts between calls.
LoadResult LoadKeepingLastGood(Texts files, std::vector<ManifestError> read_errors,
                               LastGood* last_good, ParseCache* cache);

}  // namespace warden::policy
