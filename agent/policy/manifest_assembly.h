// From the texts of a set of manifest files to one LoadResult: each file decoded (or taken from
// the cache when its content did not change), the files that can be committed chosen, each
// kind's map built (or the cached one reused when the same files make it), the state finalized.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "agent/policy/k8s_decode.h"
#include "agent/policy/manifest_result.h"

namespace warden::policy {

// A file's content, shared between the loads (and the last-good copies) that read it.
using Text = std::shared_ptr<const std::string>;
using Texts = std::vector<std::pair<std::string, Text>>;  // (path, content) in path order

// One file, decoded: what it would add, or what is wrong with it.
struct ParsedFile {
  DecodedFile decoded;
  std::vector<std::string> keys;  // ObjectKey of each decoded object
  unsigned kinds = 0;             // bit i: holds objects of DecodedObject alternative i
};
using ParsedFiles = std::vector<std::shared_ptr<const ParsedFile>>;

// Decoded files by path, with the content they were decoded from: a file whose content did not
// change is not parsed again (parsing dominates reloads of large manifest directories). Also
// each kind's map of the last load with the files it was built from: a kind whose files did not
// change is the same shared map again (an edit to one policy file copies no pods).
struct ParseCache {
  std::map<std::string, std::pair<Text, std::shared_ptr<const ParsedFile>>> files;
  std::array<ParsedFiles, std::variant_size_v<DecodedObject>> kind_files;
  ClusterState declared;   // the objects of the last load, before Finalize()
  ClusterState finalized;  // and after: its pod IP index serves the next load if pods are the same
};

// A file with errors, or naming an object that an earlier file (or itself, earlier) already
// defines, contributes nothing; the others do. `cache` may be null (nothing kept).
LoadResult LoadTexts(const Texts& files, ParseCache* cache);

}  // namespace warden::policy
