// Kubernetes labels and label selectors (metav1.LabelSelector semantics).
#pragma once

#include <map>
#include <string>
#include <vector>

namespace warden::policy {

using Labels = std::map<std::string, std::string>;

enum class SelectorOp { kIn, kNotIn, kExists, kDoesNotExist };

struct SelectorRequirement {
  std::string key;
  SelectorOp op = SelectorOp::kIn;
  std::vector<std::string> values;
  bool operator==(const SelectorRequirement&) const = default;
};

// An empty selector (no matchLabels, no matchExpressions) selects everything. Whether a selector
// is present at all is tracked by the objects that hold one (std::optional), because "absent"
// and "empty" mean different things in NetworkPolicy peers.
struct LabelSelector {
  std::map<std::string, std::string> match_labels;
  std::vector<SelectorRequirement> match_expressions;

  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool Matches(const Labels& labels) const;
  // Human-readable form, as kubectl prints selectors: "app=web,tier in (a,b),!debug".
  std::string ToString() const;
  bool operator==(const LabelSelector&) const = default;
};

const char* SelectorOpName(SelectorOp op);

}  // namespace warden::policy
