#include "text.h"

#include <cstdio>
#include <cstdlib>

namespace gryphon::codegen {

namespace {
constexpr std::size_t kColumns = 100;
}  // namespace

std::string fill(std::string_view text, const Vars& vars) {
  std::string out;
  out.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto open = text.find('$', pos);
    if (open == std::string_view::npos) {
      out.append(text.substr(pos));
      break;
    }
    out.append(text.substr(pos, open - pos));
    const auto close = text.find('$', open + 1);
    if (close == std::string_view::npos) {
      std::fprintf(stderr, "protoc-gen-gryphon: unterminated $ in template\n");
      std::abort();
    }
    const std::string name(text.substr(open + 1, close - open - 1));
    if (name.empty()) {
      out += '$';
    } else {
      const auto it = vars.find(name);
      if (it == vars.end()) {
        std::fprintf(stderr, "protoc-gen-gryphon: template variable $%s$ is not set\n",
                     name.c_str());
        std::abort();
      }
      out += it->second;
    }
    pos = close + 1;
  }
  return out;
}

std::string comment_block(const std::vector<std::string>& lines, std::string_view indent) {
  std::string out;
  for (const std::string& line : lines) {
    out.append(indent);
    out += "//";
    out += line;
    out += '\n';
  }
  return out;
}

std::string wrap_call(std::string_view indent, std::string_view head,
                      const std::vector<std::string>& params, std::string_view tail) {
  std::string one_line(indent);
  one_line.append(head);
  one_line += '(';
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (i > 0) one_line += ", ";
    one_line += params[i];
  }
  one_line += ')';
  one_line.append(tail);
  if (one_line.size() <= kColumns) return one_line + '\n';

  std::string out(indent);
  out.append(head);
  out += "(\n";
  const std::string continuation = std::string(indent) + "    ";
  std::string line = continuation;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const bool last = i + 1 == params.size();
    const std::string piece = params[i] + (last ? ")" + std::string(tail) : ",");
    if (line.size() > continuation.size() && line.size() + 1 + piece.size() > kColumns) {
      out += line + '\n';
      line = continuation;
    }
    if (line.size() > continuation.size()) line += ' ';
    line += piece;
  }
  return out + line + '\n';
}

}  // namespace gryphon::codegen
