// protoc-gen-gryphon's code generator: protoc calls it once per .proto file named on its command
// line, with the parameters given as `--gryphon_out=<parameters>:<dir>` (see options.h).
//
// For each file it writes <stem>.gryphon.{h,cc}, plus <stem>.skeleton.{h,cc} with skeleton=true
// and a project's main.cc and <stem>_test.cc with scaffold=NAME. It declares proto3 `optional`
// support: gryphon only names message types, so field presence needs nothing from it.
#pragma once

#include <google/protobuf/compiler/code_generator.h>

#include <string>
#include <vector>

namespace gryphon::codegen {

class GryphonGenerator : public google::protobuf::compiler::CodeGenerator {
 public:
  bool Generate(const google::protobuf::FileDescriptor* file, const std::string& parameter,
                google::protobuf::compiler::GeneratorContext* context,
                std::string* error) const override;
  bool GenerateAll(const std::vector<const google::protobuf::FileDescriptor*>& files,
                   const std::string& parameter,
                   google::protobuf::compiler::GeneratorContext* context,
                   std::string* error) const override;
  uint64_t GetSupportedFeatures() const override { return FEATURE_PROTO3_OPTIONAL; }
};

}  // namespace gryphon::codegen
