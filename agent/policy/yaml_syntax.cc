#include "agent/policy/yaml_syntax.h"

#include <yaml.h>

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
  int depth = 0;
  while (true) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      const yaml_mark_t& m = parser.problem_mark;
      *error = {static_cast<int>(m.line) + 1,
                absl::StrCat(parser.problem ? parser.problem : "malformed YAML",
                             parser.context ? absl::StrCat(" (", parser.context, ")") : "",
                             " at column ", m.column + 1)};
      ok = false;
      break;
    }
    const yaml_event_type_t type = event.type;
    const int line = static_cast<int>(event.start_mark.line) + 1;
    yaml_event_delete(&event);
    if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
      if (++depth > kMaxYamlDepth) {
        *error = {line, absl::StrCat("nested deeper than ", kMaxYamlDepth, " levels")};
        ok = false;
        break;
      }
    } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
      --depth;
    } else if (type == YAML_STREAM_END_EVENT) {
      break;
    }
  }
  yaml_parser_delete(&parser);
  return ok;
}

}  // namespace warden::policy
