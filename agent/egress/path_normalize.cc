#include "agent/egress/path_normalize.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace warden::egress {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool Unreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// RFC 3986 section 5.2.4 on a path that starts with '/': "." and ".." segments removed, ".."
// never climbing above the root. A trailing "." or ".." leaves the path ending in '/'.
std::string RemoveDotSegments(const std::string& path) {
  std::vector<absl::string_view> out;
  absl::string_view rest = path;
  rest.remove_prefix(1);  // the leading '/'
  bool trailing_slash = false;
  while (true) {
    const size_t slash = rest.find('/');
    const absl::string_view seg = rest.substr(0, slash);
    const bool last = slash == absl::string_view::npos;
    if (seg == ".") {
      trailing_slash = last;
    } else if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = last;
    } else {
      out.push_back(seg);
      trailing_slash = false;
    }
    if (last) break;
    rest.remove_prefix(slash + 1);
  }
  std::string result;
  for (absl::string_view seg : out) absl::StrAppend(&result, "/", seg);
  if (result.empty() || trailing_slash) result += '/';
  return result;
}

}  // namespace

absl::StatusOr<std::string> NormalizePath(absl::string_view target) {
  const absl::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path.empty() || (path[0] != '/' && path[0] != '\\'))
    return absl::InvalidArgumentError(
        absl::StrCat("request target \"", target.substr(0, 64), "\" is not a path"));
  std::string decoded;
  decoded.reserve(path.size());
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c <= 0x20 || c >= 0x7f)
      return absl::InvalidArgumentError(
          absl::StrCat("request path holds byte 0x", absl::Hex(c), " (not allowed in a path)"));
    if (c == '\\') {
      decoded += '/';
      continue;
    }
    if (c != '%') {
      decoded += static_cast<char>(c);
      continue;
    }
    // RFC 3986: a '%' starts an escape of two hex digits. A stray one is refused: kept as sent,
    // the unreserved characters decoded after it could form an escape the upstream decodes
    // again ("%%41" -> "%A..."), past what the policy matched.
    if (i + 2 >= path.size() || HexValue(path[i + 1]) < 0 || HexValue(path[i + 2]) < 0)
      return absl::InvalidArgumentError("request path holds a '%' that starts no escape");
    const char byte = static_cast<char>(HexValue(path[i + 1]) * 16 + HexValue(path[i + 2]));
    if (byte == 0) return absl::InvalidArgumentError("request path holds %00");
    if (Unreserved(byte)) {
      decoded += byte;
    } else {
      decoded += '%';
      decoded += absl::ascii_toupper(static_cast<unsigned char>(path[i + 1]));
      decoded += absl::ascii_toupper(static_cast<unsigned char>(path[i + 2]));
    }
    i += 2;
  }
  return RemoveDotSegments(decoded);
}

absl::string_view QueryOf(absl::string_view target) {
  const size_t q = target.find('?');
  if (q == absl::string_view::npos) return {};
  const absl::string_view rest = target.substr(q + 1);
  return rest.substr(0, rest.find('#'));
}

}  // namespace warden::egress
