// Manifest text for tests and benchmarks that write manifests as YAML.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace warden::testlib {

// Drops one leading newline (so raw strings can start on their own line) and indents every
// non-empty line by `indent` spaces.
inline std::string Indent(absl::string_view text, int indent) {
  if (!text.empty() && text.front() == '\n') text.remove_prefix(1);
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    out.push_back(line.empty() ? std::string() : absl::StrCat(std::string(indent, ' '), line));
  }
  return absl::StrJoin(out, "\n");
}

// A NetworkPolicy document; `indented_spec` is the body of `spec:` as it stands in the file
// (indented, each line ending in a newline).
inline std::string PolicyDoc(absl::string_view ns, absl::string_view name,
                             absl::string_view indented_spec) {
  return absl::StrCat("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ",
                      name, "\n  namespace: ", ns, "\nspec:\n", indented_spec);
}

// A NetworkPolicy document; `spec` is the body of `spec:` written from column 0.
inline std::string PolicyYaml(absl::string_view ns, absl::string_view name,
                              absl::string_view spec) {
  return PolicyDoc(ns, name, absl::StrCat(Indent(spec, 2), "\n"));
}

// A NetworkPolicy `name` in `ns` whose pods (matching `pod_selector`, "{}" for all) may send
// on `rules` ports from `first_port` on, one egress rule each: as many port sets as rules, and
// more once unions are interned (for tables that must overflow).
inline std::string EgressPortsPolicy(absl::string_view ns, absl::string_view name,
                                     absl::string_view pod_selector, int rules, int first_port) {
  std::string spec =
      absl::StrCat("  podSelector: ", pod_selector, "\n  policyTypes: [Egress]\n  egress:\n");
  for (int i = 0; i < rules; ++i)
    absl::StrAppend(&spec, "  - ports: [{port: ", first_port + i, "}]\n");
  return PolicyDoc(ns, name, spec);
}

// The 1-based line of the first line of `text` containing `marker`, or 0.
inline int LineOf(absl::string_view text, absl::string_view marker) {
  int line = 1;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(l, marker)) return line;
    ++line;
  }
  return 0;
}

}  // namespace warden::testlib
