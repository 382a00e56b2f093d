// The option table: every option gryphon has, with its help text, default and how a value is
// checked and applied to a Config. parse_config() (config.h) builds the command line, the
// environment and the TOML file from this one table, so an option cannot exist in one and not
// the others. Private to config/.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"

namespace gryphon::internal {

using Values = std::vector<std::string>;
using Apply = std::function<void(Config&, const Values&)>;

struct OptionSpec {
  std::string name;  // flag name without dashes, e.g. "max-connection-age"
  std::string help;
  std::string default_text;
  bool repeated = false;
  Apply apply;
};

// "max-connection-age" -> "GRYPHON_MAX_CONNECTION_AGE".
std::string env_name(const std::string& option);
std::string trim(std::string s);
// "500ms" -> {500, "ms"}; throws std::invalid_argument naming `what` when it is no number.
std::pair<double, std::string> number_and_unit(const std::string& text, const char* what);
std::vector<OptionSpec> option_specs();

}  // namespace gryphon::internal
