#include "agent/node/required_capabilities.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::node {

namespace {

std::string Named(int capability, const char* use) {
  return absl::StrCat("CAP_", common::CapabilityName(capability), " (", use, ")");
}

std::vector<std::string> Missing(common::CapabilitySet effective, bool joins_netns) {
  std::vector<std::string> out;
  for (const RequiredCapability& c : kRequiredCapabilities)
    if (!(effective & common::Capability(c.capability))) out.push_back(Named(c.capability, c.use));
  if (joins_netns && !(effective & common::Capability(CAP_SYS_ADMIN)))
    out.push_back(Named(CAP_SYS_ADMIN, "joining --netns"));
  return out;
}

}  // namespace

common::CapabilitySet RequiredCapabilitySet() {
  common::CapabilitySet all = 0;
  for (const RequiredCapability& c : kRequiredCapabilities) all |= common::Capability(c.capability);
  return all;
}

absl::Status CheckCapabilities(common::CapabilitySet effective, bool joins_netns) {
  std::vector<std::string> missing = Missing(effective, joins_netns);
  if (missing.empty()) return absl::OkStatus();
  return absl::PermissionDeniedError(
      absl::StrCat("needs ", absl::StrJoin(missing, ", "), ": not in its effective set"));
}

std::string MissingOptionalCapabilities(common::CapabilitySet effective) {
  std::vector<std::string> missing;
  for (const RequiredCapability& c : kOptionalCapabilities)
    if (!(effective & common::Capability(c.capability)))
      missing.push_back(Named(c.capability, c.use));
  if (missing.empty()) return "";
  return absl::StrCat("without ", absl::StrJoin(missing, ", "),
                      ": pods behind a bridge are judged by the cgroup programs only");
}

absl::Status ExplainPermissionError(const absl::Status& st) {
  if (!absl::IsPermissionDenied(st)) return st;
  absl::StatusOr<common::CapabilitySet> effective = common::OwnEffectiveCapabilities();
  if (!effective.ok()) return st;
  std::vector<std::string> missing = Missing(*effective, false);
  if (missing.empty()) {
    return absl::PermissionDeniedError(
        absl::StrCat(st.message(),
                     " (every capability the agent needs is held: a seccomp profile or an LSM "
                     "may refuse bpf(); mounting bpffs needs CAP_SYS_ADMIN)"));
  }
  return absl::PermissionDeniedError(
      absl::StrCat(st.message(), " (likely missing: ", absl::StrJoin(missing, ", "), ")"));
}

}  // namespace warden::node
