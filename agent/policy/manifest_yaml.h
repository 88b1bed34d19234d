// Reading manifest text: the documents of a file (multi-document YAML, or JSON, which is YAML),
// the items of `kind: List` in their place, and typed readers for their fields. A reader reports
// every problem at the line of the offending node, naming the object and the field path.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "agent/policy/manifest_result.h"
#include "agent/policy/objects.h"
#include "yaml-cpp/yaml.h"

namespace warden::policy {

// "\"s\"": how messages quote values.
std::string Quote(const std::string& s);
// "base.field", or "field" at the top of a document.
std::string JoinField(const std::string& base, const std::string& field);
// "base[i]".
std::string IndexField(const std::string& base, size_t i);
// Present in its mapping and not null.
inline bool Present(const YAML::Node& n) { return n && !n.IsNull(); }
// A plain (unquoted) scalar that YAML reads as a number, boolean or null, which the API server
// refuses where a string is required (label values, selector values).
bool IsTypedPlainScalar(const YAML::Node& n);

// The errors of one file, and where in it the reader is: the object being decoded (named in
// each error once known), the line it starts at, and its field-path prefix within the document.
class ManifestReader {
 public:
  ManifestReader(std::string file, std::vector<ManifestError>* errors)
      : file_(std::move(file)), errors_(errors) {}

  const std::string& file() const { return file_; }
  int error_count() const { return error_count_; }
  // Where the object being decoded comes from (its file and first line).
  SourceRef Source() const { return SourceRef{file_, object_line_}; }

  // A new document or List item: no object named yet; errors without a line get its line.
  void StartDocument(const YAML::Node& doc);
  // The object's path within its document ("" or "items[2]"): Field() prefixes it.
  void SetPathPrefix(std::string path) { path_prefix_ = std::move(path); }
  const std::string& path_prefix() const { return path_prefix_; }
  // "Kind ns/name", named in the errors that follow.
  void SetObject(std::string object) { object_ = std::move(object); }
  std::string Field(const std::string& f) const { return JoinField(path_prefix_, f); }

  // The 1-based line of `n`, or the object's line when `n` has none.
  int Line(const YAML::Node& n) const;
  void Fail(const YAML::Node& at, const std::string& field, const std::string& message);
  // An error about the file itself (it cannot be parsed): no object, no field.
  void FailFile(int line, const std::string& message);

  // Typed readers: false or nullopt when absent or (reported) of the wrong type.
  bool ReadString(const YAML::Node& parent, const char* key, const std::string& field,
                  std::string* out);
  bool ReadBool(const YAML::Node& parent, const char* key, const std::string& field, bool* out);
  std::optional<int64_t> ScalarInt(const YAML::Node& n, const std::string& field);

  // Reports a node of the wrong shape.
  bool IsMapOrReport(const YAML::Node& n, const std::string& field);
  bool IsSeqOrReport(const YAML::Node& n, const std::string& field);
  // Present and of the right shape (reports one present with the wrong shape).
  bool OptionalMap(const YAML::Node& n, const std::string& field) {
    return Present(n) && IsMapOrReport(n, field);
  }
  bool OptionalList(const YAML::Node& n, const std::string& field) {
    return Present(n) && IsSeqOrReport(n, field);
  }

  // Checks that a mapping has only the given keys (strict field validation, as kubectl's
  // default). Used where a misspelt key would silently change what is enforced.
  void CheckKnownKeys(const YAML::Node& n, const std::string& field,
                      std::initializer_list<const char*> known);
  // yaml-cpp keeps the first of two equal keys; the API server refuses such a document (strict
  // decoding). Reports every key that appears twice in one mapping, at any depth.
  void CheckDuplicateKeys(const YAML::Node& n, const std::string& field);

 private:
  std::string file_;
  std::vector<ManifestError>* errors_;
  std::string object_;
  std::string path_prefix_;
  int object_line_ = 0;
  int error_count_ = 0;
};

// Called for each object with the reader positioned on it (its path prefix set).
using ManifestObjectFn = std::function<void(const YAML::Node& doc, const std::string& api_version,
                                            const std::string& kind)>;

// Reads every object of a manifest file: each document, and the items of `kind: List` (or any
// `...List`) in their place. A document that is not a mapping with a kind is reported; so is
// text that cannot be parsed (a file-level error).
void ReadManifestObjects(const std::string& content, ManifestReader* reader,
                         const ManifestObjectFn& object);

}  // namespace warden::policy
