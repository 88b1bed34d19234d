#include "agent/policy/k8s_names.h"

#include <cctype>

#include "absl/strings/ascii.h"

namespace warden::policy {

namespace {
bool IsLowerAlnum(char c) {
  return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
}
bool IsAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])? of at most 63 characters.
std::string CheckNamePart(const std::string& s, const char* what) {
  if (s.empty()) return std::string(what) + " must be non-empty";
  if (s.size() > 63) return std::string(what) + " must be no more than 63 characters";
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) {
    return std::string(what) + " must start and end with an alphanumeric character";
  }
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') {
      return std::string(what) + " must consist of alphanumeric characters, '-', '_' or '.'";
    }
  }
  return "";
}
}  // namespace

std::string CheckDns1123Label(const std::string& s) {
  if (s.empty()) return "must be non-empty";
  if (s.size() > 63) return "must be no more than 63 characters";
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return "a lowercase RFC 1123 label must start and end with an alphanumeric character";
  }
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') {
      return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'";
    }
  }
  return "";
}

std::string CheckDns1123Subdomain(const std::string& s) {
  if (s.empty()) return "must be non-empty";
  if (s.size() > 253) return "must be no more than 253 characters";
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty() || !IsLowerAlnum(part.front()) || !IsLowerAlnum(part.back())) {
      return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
             "'-' or '.', and must start and end with an alphanumeric character";
    }
    for (char c : part) {
      if (!IsLowerAlnum(c) && c != '-') {
        return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
               "characters, '-' or '.'";
      }
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return "";
}

std::string CheckQualifiedName(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return CheckNamePart(s, "name part");
  if (s.find('/', slash + 1) != std::string::npos) {
    return "a qualified name must consist of an optional DNS subdomain prefix, '/' and a name";
  }
  std::string prefix = s.substr(0, slash);
  if (std::string why = CheckDns1123Subdomain(prefix); !why.empty()) return "prefix part " + why;
  return CheckNamePart(s.substr(slash + 1), "name part");
}

std::string CheckAnnotationKey(const std::string& s) {
  return CheckQualifiedName(absl::AsciiStrToLower(s));
}

std::string CheckLabelValue(const std::string& s) {
  if (s.empty()) return "";
  return CheckNamePart(s, "a label value");
}

std::string CheckPortName(const std::string& s) {
  if (s.empty()) return "must be non-empty";
  if (s.size() > 15) return "must be no more than 15 characters";
  bool letter = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (std::islower(static_cast<unsigned char>(c))) {
      letter = true;
    } else if (c == '-') {
      if (i == 0 || i + 1 == s.size()) return "must not begin or end with a hyphen";
      if (s[i - 1] == '-') return "must not contain consecutive hyphens";
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      return "must contain only lowercase alphanumeric characters (a-z, 0-9) and hyphens (-)";
    }
  }
  if (!letter) return "must contain at least one letter (a-z)";
  return "";
}

}  // namespace warden::policy
