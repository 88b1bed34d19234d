// The request path an AuthorizationPolicy sees: Istio's default path normalization (BASE, Envoy's
// normalize_path), so that `/a/../admin`, `/%61dmin` and `\admin` cannot slip past a rule on
// `/admin`.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::egress {

// The path of a request target (origin form, "/p?q#f"), normalized as RFC 3986 section 6 and
// Envoy's normalize_path do: '\' becomes '/', percent-encoded unreserved characters are decoded
// (%41 -> A) and other escapes upper-cased (%2f -> %2F, which stays encoded), dot segments are
// removed (also when encoded, %2E); repeated slashes are kept (BASE does not merge them). The
// query and fragment are left out (a rule matches the path alone). InvalidArgument (the gateway
// answers 400) for a target that is not a path, or that holds %00, a '%' that starts no escape,
// a control character, a space or a byte outside ASCII.
absl::StatusOr<std::string> NormalizePath(absl::string_view target);

// The query of a request target ("" when none), as sent: it is forwarded, never matched.
absl::string_view QueryOf(absl::string_view target);

}  // namespace warden::egress
