#include "agent/policy/manifest_yaml.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/yaml_syntax.h"

namespace warden::policy {

std::string Quote(const std::string& s) { return absl::StrCat("\"", s, "\""); }

std::string JoinField(const std::string& base, const std::string& field) {
  return base.empty() ? field : absl::StrCat(base, ".", field);
}

std::string IndexField(const std::string& base, size_t i) {
  return absl::StrCat(base, "[", i, "]");
}

bool IsTypedPlainScalar(const YAML::Node& n) {
  if (!n.IsScalar() || n.Tag() == "!") return false;
  static const char* kWords[] = {"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes",
                                 "YES",  "no",   "No",   "NO",    "on",    "On",    "ON",  "off",
                                 "Off",  "OFF",  "null", "Null",  "NULL",  "~"};
  const std::string& v = n.Scalar();
  for (const char* w : kWords) {
    if (v == w) return true;
  }
  double d;
  return !v.empty() && absl::SimpleAtod(v, &d) &&
         v.find_first_not_of("0123456789+-.eE_xXoabcdefABCDEF") == std::string::npos;
}

// ---- ManifestReader -------------------------------------------------------------------------

void ManifestReader::StartDocument(const YAML::Node& doc) {
  object_.clear();
  object_line_ = Line(doc);
}

int ManifestReader::Line(const YAML::Node& n) const {
  if (n && n.Mark().line >= 0) return n.Mark().line + 1;
  return object_line_;
}

void ManifestReader::Fail(const YAML::Node& at, const std::string& field,
                          const std::string& message) {
  errors_->push_back(ManifestError{file_, Line(at), object_, field, message});
  ++error_count_;
}

void ManifestReader::FailFile(int line, const std::string& message) {
  errors_->push_back(ManifestError{file_, line, "", "", message});
  ++error_count_;
}

bool ManifestReader::ReadString(const YAML::Node& parent, const char* key, const std::string& field,
                                std::string* out) {
  const YAML::Node n = parent[key];
  if (!Present(n)) return false;
  if (!n.IsScalar()) {
    Fail(n, field, "must be a string");
    return false;
  }
  *out = n.Scalar();
  return true;
}

bool ManifestReader::ReadBool(const YAML::Node& parent, const char* key, const std::string& field,
                              bool* out) {
  const YAML::Node n = parent[key];
  if (!Present(n)) return false;
  if (!n.IsScalar() || (n.Scalar() != "true" && n.Scalar() != "false")) {
    Fail(n, field, "must be true or false");
    return false;
  }
  *out = n.Scalar() == "true";
  return true;
}

std::optional<int64_t> ManifestReader::ScalarInt(const YAML::Node& n, const std::string& field) {
  int64_t v = 0;
  if (!n.IsScalar() || n.Tag() == "!" || !absl::SimpleAtoi(n.Scalar(), &v)) {
    Fail(n, field,
         absl::StrCat("must be an integer", n.IsScalar() ? ", got " + Quote(n.Scalar()) : ""));
    return std::nullopt;
  }
  return v;
}

bool ManifestReader::IsMapOrReport(const YAML::Node& n, const std::string& field) {
  if (n.IsMap()) return true;
  Fail(n, field, "must be an object");
  return false;
}

bool ManifestReader::IsSeqOrReport(const YAML::Node& n, const std::string& field) {
  if (n.IsSequence()) return true;
  Fail(n, field, "must be a list");
  return false;
}

void ManifestReader::CheckKnownKeys(const YAML::Node& n, const std::string& field,
                                    std::initializer_list<const char*> known) {
  if (!n.IsMap()) return;
  for (const auto& kv : n) {
    std::string k = kv.first.Scalar();
    bool ok = std::any_of(known.begin(), known.end(), [&](const char* x) { return k == x; });
    if (!ok) {
      std::vector<std::string> names(known.begin(), known.end());
      Fail(kv.first, JoinField(field, k),
           absl::StrCat("unknown field ", Quote(k), " (known: ", absl::StrJoin(names, ", "), ")"));
    }
  }
}

void ManifestReader::CheckDuplicateKeys(const YAML::Node& n, const std::string& field) {
  if (n.IsMap()) {
    std::set<std::string> seen;
    for (const auto& kv : n) {
      std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
      std::string f = JoinField(field, k);
      if (!seen.insert(k).second)
        Fail(kv.first, f,
             absl::StrCat("Duplicate value: key ", Quote(k), " is already set in this mapping"));
      CheckDuplicateKeys(kv.second, f);
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) CheckDuplicateKeys(n[i], IndexField(field, i));
  }
}

// ---- documents ------------------------------------------------------------------------------

namespace {

void ReadDocument(const YAML::Node& doc, const std::string& path, ManifestReader* r,
                  const ManifestObjectFn& object);

// The items of a `kind: List` document, each read as a document of its own.
void ReadListItems(const YAML::Node& doc, const std::string& path, ManifestReader* r,
                   const ManifestObjectFn& object) {
  const YAML::Node items = doc["items"];
  std::string field = JoinField(path, "items");
  if (Present(items) && !items.IsSequence()) {
    r->Fail(items, field, "must be a list");
    return;
  }
  if (!items) return;
  for (size_t i = 0; i < items.size(); ++i) ReadDocument(items[i], IndexField(field, i), r, object);
}

void ReadDocument(const YAML::Node& doc, const std::string& path, ManifestReader* r,
                  const ManifestObjectFn& object) {
  if (!Present(doc)) return;
  r->StartDocument(doc);
  if (!doc.IsMap()) {
    r->Fail(doc, path, "a manifest document must be a mapping with apiVersion and kind");
    return;
  }
  std::string api_version, kind;
  r->ReadString(doc, "apiVersion", JoinField(path, "apiVersion"), &api_version);
  if (!r->ReadString(doc, "kind", JoinField(path, "kind"), &kind) || kind.empty()) {
    r->Fail(doc, JoinField(path, "kind"), "Required value: kind is required");
    return;
  }
  if (absl::EndsWith(kind, "List")) {
    ReadListItems(doc, path, r, object);
    return;
  }
  r->SetPathPrefix(path);
  object(doc, api_version, kind);
}

}  // namespace

void ReadManifestObjects(const std::string& content, ManifestReader* reader,
                         const ManifestObjectFn& object) {
  YamlSyntaxError syntax;
  if (!CheckYamlSyntax(content, &syntax)) {
    reader->FailFile(syntax.line, absl::StrCat("cannot parse: ", syntax.problem));
    return;
  }
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(content);
    for (const auto& d : docs) ReadDocument(d, "", reader, object);
  } catch (const YAML::Exception& e) {
    reader->FailFile(e.mark.line >= 0 ? e.mark.line + 1 : 0, absl::StrCat("cannot parse: ", e.msg));
  }
}

}  // namespace warden::policy
