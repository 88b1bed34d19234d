// Name and label validation as the Kubernetes API server does it (apimachinery validation).
// Each returns an empty string when valid, else the reason.
#pragma once

#include <string>

namespace warden::policy {

std::string CheckDns1123Label(const std::string& s);      // namespace names
std::string CheckDns1123Subdomain(const std::string& s);  // most object names
std::string CheckQualifiedName(const std::string& s);     // label keys: [prefix/]name
// Annotation keys: qualified names in which case does not matter (the API server lowercases the
// key before checking it, so "Example.COM/Key" is a valid annotation key but not a label key).
std::string CheckAnnotationKey(const std::string& s);
std::string CheckLabelValue(const std::string& s);
std::string CheckPortName(const std::string& s);  // IANA_SVC_NAME

}  // namespace warden::policy
