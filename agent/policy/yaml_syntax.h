// A manifest's YAML checked by libyaml before yaml-cpp builds its nodes: yaml-cpp 0.7 loops
// forever (allocating) on some malformed streams and on some tagged or anchored nodes, and
// recurses without bound on deep nesting, where libyaml (fuzzed continuously upstream) reports an
// error. Only well-formed streams of bounded depth, without tags, anchors or aliases and with
// scalar mapping keys (what a JSON document can say, which is how Kubernetes reads manifests),
// reach yaml-cpp.
#pragma once

#include <string>

namespace warden::policy {

// The deepest nesting of collections a manifest may have (Kubernetes objects need a dozen).
inline constexpr int kMaxYamlDepth = 64;

struct YamlSyntaxError {
  int line = 0;  // 1-based; 0 when unknown
  std::string problem;
};

// Whether `content` is a well-formed YAML stream no deeper than kMaxYamlDepth, without tags,
// anchors or aliases, and with no mapping key but scalars; else why not.
bool CheckYamlSyntax(const std::string& content, YamlSyntaxError* error);

}  // namespace warden::policy
