// What the API server sends (list pages and watch events, JSON) into the texts the manifest
// decoder reads: one text per object, named by the object's API path. Each object keeps what
// the decoder reads and loses what a large cluster would hold many copies of for nothing
// (managedFields, the last-applied annotation, and of a Pod everything but its identity, node,
// containers' ports and addresses). A Pod that has ended (Succeeded, Failed) is treated as
// gone: its addresses are being reused.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/kube/resources.h"

namespace warden::kube {

struct ApiObject {
  std::string path;                         // ObjectPath()
  std::shared_ptr<const std::string> text;  // JSON; null when the object is gone (ended Pod)
};

struct ListPage {
  std::vector<ApiObject> objects;
  std::string resource_version;
  std::string continue_token;
};

// One page of a list of `r` at `group_version`. An item without a name (or namespace, for a
// namespaced kind) fails the whole page: the server's answer cannot be trusted.
absl::StatusOr<ListPage> ParseListPage(const Resource& r, const std::string& group_version,
                                       std::string_view body);

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kError;
  ApiObject object;                 // for added, modified and deleted
  std::string resource_version;     // of the object, or the bookmark's
  bool initial_events_end = false;  // a bookmark ending a watch-list's initial events
  int error_code = 0;               // of an ERROR event's Status (410: too old)
  std::string error_message;
};

// One line of a watch stream. InvalidArgument names what is wrong with it.
absl::StatusOr<WatchEvent> ParseWatchEvent(const Resource& r, const std::string& group_version,
                                           std::string_view line);

// The Status object of an error answer, as "code reason: message" (or the start of the body).
std::string DescribeErrorBody(std::string_view body);

}  // namespace warden::kube
