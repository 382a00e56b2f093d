#include "comments.h"

namespace gryphon::codegen {
namespace {

void append_lines(const std::string& text, std::vector<std::string>* lines) {
  std::string::size_type start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
      line.pop_back();
    }
    // A `//` comment ending in a backslash would continue onto the next line of code (and
    // -Wcomment rejects it); so would the trigraph ??/ in modes that still read trigraphs.
    if (!line.empty() && (line.back() == '\\' || line.ends_with("?\?/"))) line += " //";
    lines->push_back(std::move(line));
    start = end + 1;
  }
}

template <class D>
std::vector<std::string> lines_of(const D& descriptor) {
  google::protobuf::SourceLocation location;
  std::vector<std::string> lines;
  if (!descriptor.GetSourceLocation(&location)) return lines;
  append_lines(location.leading_comments, &lines);
  append_lines(location.trailing_comments, &lines);
  return lines;
}

}  // namespace

std::vector<std::string> comment_lines(const google::protobuf::ServiceDescriptor& service) {
  return lines_of(service);
}

std::vector<std::string> comment_lines(const google::protobuf::MethodDescriptor& method) {
  return lines_of(method);
}

}  // namespace gryphon::codegen
