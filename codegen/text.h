// Small text helpers the file printers share: `$name$` templates, comment blocks, and C++
// declarations wrapped at 100 columns the way the repository's .clang-format would.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace gryphon::codegen {

using Vars = std::map<std::string, std::string>;

// Replaces every `$name$` in `text` with vars.at(name); `$$` is a literal `$`. A name missing from
// `vars` is a bug in the generator and aborts.
std::string fill(std::string_view text, const Vars& vars);

// `lines` as `//` comments, each prefixed by `indent` and ending in a newline; "" when empty.
std::string comment_block(const std::vector<std::string>& lines, std::string_view indent);

// `head(param, param, ...)tail` on one line when it fits in 100 columns, else with the parameters
// on continuation lines indented four more spaces than `indent`. Ends with a newline.
std::string wrap_call(std::string_view indent, std::string_view head,
                      const std::vector<std::string>& params, std::string_view tail);

}  // namespace gryphon::codegen
