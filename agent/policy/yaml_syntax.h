// A manifest's YAML checked by libyaml before yaml-cpp builds its nodes: yaml-cpp 0.7 loops
// forever (allocating) on some malformed streams, and recurses without bound on deep nesting,
// where libyaml (fuzzed continuously upstream) reports an error. Only well-formed streams of
// bounded depth reach yaml-cpp.
#pragma once

#include <string>

namespace warden::policy {

// The deepest nesting of collections a manifest may have (Kubernetes objects need a dozen).
inline constexpr int kMaxYamlDepth = 64;

struct YamlSyntaxError {
  int line = 0;  // 1-based; 0 when unknown
  std::string problem;
};

// Whether `content` is a well-formed YAML stream no deeper than kMaxYamlDepth; else why not.
bool CheckYamlSyntax(const std::string& content, YamlSyntaxError* error);

}  // namespace warden::policy
