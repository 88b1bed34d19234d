#include "agent/policy/manifest_result.h"

#include "absl/strings/str_cat.h"

namespace warden::policy {

std::string ManifestError::ToString() const {
  std::string out = file;
  if (line > 0) absl::StrAppend(&out, ":", line);
  absl::StrAppend(&out, ": ");
  if (!object.empty()) absl::StrAppend(&out, object, ": ");
  if (!field.empty()) absl::StrAppend(&out, field, ": ");
  absl::StrAppend(&out, message);
  return out;
}

}  // namespace warden::policy
