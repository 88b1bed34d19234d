// The forms of a value in an AuthorizationPolicy, as Istio turns them into Envoy matchers: "*"
// (present), "*suffix", "prefix*", or exact; a '*' anywhere else is a literal character.
#pragma once

#include <string>
#include "absl/strings/string_view.h"

namespace warden::egress {

struct StringMatchOptions {
  bool ignore_case = false;  // hosts
};

// `value` against `actual`: "*" any non-empty value, "*x" suffix x, "x*" prefix x, else equal.
bool StringMatches(absl::string_view value, absl::string_view actual, const StringMatchOptions& o);

// A glob where every '*' stands for any run of characters (Istio's namespace values, which it
// turns into a regular expression).
bool GlobMatches(absl::string_view pattern, absl::string_view s);

// A path value against a normalized path: the string forms above, or a path template whose
// segments `{*}` (one non-empty segment) and `{**}` (anything, across segments) Envoy's
// uri_template matcher understands.
bool PathMatches(absl::string_view value, absl::string_view path);

}  // namespace warden::egress
