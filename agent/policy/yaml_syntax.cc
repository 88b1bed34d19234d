#include "agent/policy/yaml_syntax.h"

#include <yaml.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace warden::policy {

bool CheckYamlSyntax(const std::string& content, YamlSyntaxError* error) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    *error = {0, "out of memory"};
    return false;
  }
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(content.data()),
                               content.size());
  bool ok = true;
  // Per open collection: whether it is a mapping, and whether its next node is a key.
  std::vector<std::pair<bool, bool>> open;
  auto fail = [&](int line, std::string problem) {
    *error = {line, std::move(problem)};
    ok = false;
  };
  while (ok) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      const yaml_mark_t& m = parser.problem_mark;
      fail(static_cast<int>(m.line) + 1,
           absl::StrCat(parser.problem ? parser.problem : "malformed YAML",
                        parser.context ? absl::StrCat(" (", parser.context, ")") : "",
                        " at column ", m.column + 1));
      break;
    }
    const yaml_event_type_t type = event.type;
    const int line = static_cast<int>(event.start_mark.line) + 1;
    const unsigned char* tag = type == YAML_SCALAR_EVENT           ? event.data.scalar.tag
                               : type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.tag
                               : type == YAML_MAPPING_START_EVENT  ? event.data.mapping_start.tag
                                                                   : nullptr;
    // Kubernetes reads manifests as JSON, where a tag means nothing, and yaml-cpp 0.7 loops
    // forever on some tagged scalars (even `!!str`): a manifest carries no tags.
    if (tag) {
      fail(line, absl::StrCat("tag ", reinterpret_cast<const char*>(tag),
                              ": tags are not supported in manifests"));
    }
    // yaml-cpp 0.7 also loops on anchored nodes followed by an explicit key (`&a x` then `? y`;
    // fuzz_manifest found several forms): anchors and aliases are refused, as tags are. What they
    // save a writer can always be written out.
    const unsigned char* anchor =
        type == YAML_SCALAR_EVENT           ? event.data.scalar.anchor
        : type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor
        : type == YAML_MAPPING_START_EVENT  ? event.data.mapping_start.anchor
                                            : nullptr;
    if (ok && (anchor || type == YAML_ALIAS_EVENT))
      fail(line, "anchors and aliases are not supported in manifests");
    const bool collection = type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT;
    const bool node = collection || type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT;
    if (ok && node && !open.empty() && open.back().first) {
      // A mapping's key must be a scalar (JSON's keys are strings).
      if (open.back().second && collection) fail(line, "a mapping key that is not a scalar");
      open.back().second = !open.back().second;
    }
    if (ok && collection) {
      open.emplace_back(type == YAML_MAPPING_START_EVENT, true);
      if (static_cast<int>(open.size()) > kMaxYamlDepth)
        fail(line, absl::StrCat("nested deeper than ", kMaxYamlDepth, " levels"));
    } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
      if (!open.empty()) open.pop_back();
    }
    yaml_event_delete(&event);
    if (type == YAML_STREAM_END_EVENT) break;
  }
  yaml_parser_delete(&parser);
  return ok;
}

}  // namespace warden::policy
