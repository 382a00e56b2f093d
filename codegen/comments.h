// Proto comments carried onto generated C++.
//
// protoc keeps the comments of the files it parses (SourceCodeInfo) and hands them to plugins. A
// service's or method's leading comment and its trailing comment become `//` lines above the
// generated class or method, so a team reads the API's documentation where it writes handlers.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

namespace gryphon::codegen {

// The comment lines of a service or method, each to be printed after "//". Empty when the proto
// has no comment there.
std::vector<std::string> comment_lines(const google::protobuf::ServiceDescriptor& service);
std::vector<std::string> comment_lines(const google::protobuf::MethodDescriptor& method);

}  // namespace gryphon::codegen
