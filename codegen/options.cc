#include "options.h"

#include <google/protobuf/compiler/code_generator.h>

#include <regex>
#include <set>
#include <utility>
#include <vector>

namespace gryphon::codegen {
namespace {

constexpr const char* kKnownKeys = "skeleton, pure_virtual, scaffold, async";

bool parse_bool(const std::string& key, const std::string& value, bool* out, std::string* error) {
  if (value == "true") {
    *out = true;
    return true;
  }
  if (value == "false") {
    *out = false;
    return true;
  }
  *error = "bad value \"" + value + "\" for parameter \"" + key + "\": expected true or false";
  return false;
}

}  // namespace

bool parse_options(const std::string& parameter, GeneratorOptions* options, std::string* error) {
  std::vector<std::pair<std::string, std::string>> pairs;
  google::protobuf::compiler::ParseGeneratorParameter(parameter, &pairs);
  std::set<std::string> seen;
  for (const auto& [key, value] : pairs) {
    if (key.empty()) {
      *error = "empty parameter in \"" + parameter + "\": expected comma-separated key=value pairs";
      return false;
    }
    if (!seen.insert(key).second) {
      *error = "parameter \"" + key + "\" is given twice";
      return false;
    }
    if (key == "skeleton") {
      if (value == "true") {
        options->skeleton = SkeletonMode::kAlso;
      } else if (value == "false") {
        options->skeleton = SkeletonMode::kNone;
      } else if (value == "only") {
        options->skeleton = SkeletonMode::kOnly;
      } else {
        *error =
            "bad value \"" + value + "\" for parameter \"skeleton\": expected true, false or only";
        return false;
      }
    } else if (key == "pure_virtual") {
      if (!parse_bool(key, value, &options->pure_virtual, error)) return false;
    } else if (key == "async") {
      if (!parse_bool(key, value, &options->async, error)) return false;
    } else if (key == "scaffold") {
      static const std::regex kProjectName("[A-Za-z][A-Za-z0-9_-]*");
      if (!std::regex_match(value, kProjectName)) {
        *error = "bad value \"" + value +
                 "\" for parameter \"scaffold\": expected a project name "
                 "(a letter, then letters, digits, '_' or '-')";
        return false;
      }
      options->scaffold = value;
    } else {
      *error = "unknown parameter \"" + key + "\" (known: " + kKnownKeys + ")";
      return false;
    }
  }
  if (!options->scaffold.empty() && !options->writes_skeletons()) {
    *error =
        "parameter \"scaffold\" needs skeleton=true or skeleton=only: the scaffold registers "
        "the skeleton classes";
    return false;
  }
  return true;
}

}  // namespace gryphon::codegen
