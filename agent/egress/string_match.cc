#include "agent/egress/string_match.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace warden::egress {
namespace {

bool Equal(absl::string_view a, absl::string_view b, bool ignore_case) {
  return ignore_case ? absl::EqualsIgnoreCase(a, b) : a == b;
}

// A character Envoy's uri_template lets a `{*}` or `{**}` stand for (RFC 3986 pchar).
bool TemplateChar(char c) {
  static constexpr absl::string_view kOthers = "-._~%!$&'()+,;:@=";
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         kOthers.find(c) != absl::string_view::npos;
}

struct Token {
  enum Kind { kLiteral, kOne, kAny } kind;
  absl::string_view text;  // kLiteral
};

std::vector<Token> Tokens(absl::string_view t) {
  std::vector<Token> out;
  while (!t.empty()) {
    const size_t one = t.find("{*}"), any = t.find("{**}");
    const size_t next = std::min(one, any);
    if (next == absl::string_view::npos) {
      out.push_back({Token::kLiteral, t});
      break;
    }
    if (next > 0) out.push_back({Token::kLiteral, t.substr(0, next)});
    const bool is_any = next == any;
    out.push_back({is_any ? Token::kAny : Token::kOne, {}});
    t.remove_prefix(next + (is_any ? 4 : 3));
  }
  return out;
}

bool MatchTokens(const std::vector<Token>& tokens, size_t i, absl::string_view s) {
  if (i == tokens.size()) return s.empty();
  const Token& t = tokens[i];
  if (t.kind == Token::kLiteral)
    return absl::StartsWith(s, t.text) && MatchTokens(tokens, i + 1, s.substr(t.text.size()));
  // `{*}`: one or more characters of one segment; `{**}`: zero or more, '/' included.
  const size_t min = t.kind == Token::kOne ? 1 : 0;
  for (size_t n = 0; n <= s.size(); ++n) {
    if (n >= min && MatchTokens(tokens, i + 1, s.substr(n))) return true;
    if (n == s.size()) break;
    const char c = s[n];
    if (!(TemplateChar(c) || (t.kind == Token::kAny && c == '/'))) break;
  }
  return false;
}

}  // namespace

bool StringMatches(absl::string_view value, absl::string_view actual, const StringMatchOptions& o) {
  if (value == "*") return !actual.empty();
  if (absl::StartsWith(value, "*")) {
    const absl::string_view suffix = value.substr(1);
    return actual.size() >= suffix.size() &&
           Equal(actual.substr(actual.size() - suffix.size()), suffix, o.ignore_case);
  }
  if (absl::EndsWith(value, "*")) {
    const absl::string_view prefix = value.substr(0, value.size() - 1);
    return actual.size() >= prefix.size() &&
           Equal(actual.substr(0, prefix.size()), prefix, o.ignore_case);
  }
  return Equal(value, actual, o.ignore_case);
}

bool GlobMatches(absl::string_view pattern, absl::string_view s) {
  // Iterative wildcard matching with one backtrack point (linear in practice).
  size_t p = 0, i = 0, star = absl::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool PathMatches(absl::string_view value, absl::string_view path) {
  if (value.find("{*}") == absl::string_view::npos && value.find("{**}") == absl::string_view::npos)
    return StringMatches(value, path, StringMatchOptions{});
  return MatchTokens(Tokens(value), 0, path);
}

}  // namespace warden::egress
