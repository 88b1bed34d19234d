#include "agent/policy/labels.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace warden::policy {

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& req : match_expressions) {
    auto it = labels.find(req.key);
    bool has = it != labels.end();
    bool in =
        has && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    switch (req.op) {
      case SelectorOp::kIn:
        if (!in) return false;
        break;
      case SelectorOp::kNotIn:  // a missing key satisfies NotIn
        if (in) return false;
        break;
      case SelectorOp::kExists:
        if (!has) return false;
        break;
      case SelectorOp::kDoesNotExist:
        if (has) return false;
        break;
    }
  }
  return true;
}

const char* SelectorOpName(SelectorOp op) {
  switch (op) {
    case SelectorOp::kIn:
      return "In";
    case SelectorOp::kNotIn:
      return "NotIn";
    case SelectorOp::kExists:
      return "Exists";
    case SelectorOp::kDoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

std::string LabelSelector::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [k, v] : match_labels) parts.push_back(k + "=" + v);
  for (const auto& r : match_expressions) {
    switch (r.op) {
      case SelectorOp::kIn:
        parts.push_back(r.key + " in (" + absl::StrJoin(r.values, ",") + ")");
        break;
      case SelectorOp::kNotIn:
        parts.push_back(r.key + " notin (" + absl::StrJoin(r.values, ",") + ")");
        break;
      case SelectorOp::kExists:
        parts.push_back(r.key);
        break;
      case SelectorOp::kDoesNotExist:
        parts.push_back("!" + r.key);
        break;
    }
  }
  if (parts.empty()) return "{} (everything)";
  return absl::StrJoin(parts, ",");
}

}  // namespace warden::policy
