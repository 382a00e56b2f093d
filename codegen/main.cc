// protoc-gen-gryphon: the protoc plugin that writes gryphon handler interfaces. See README.md.
#include <google/protobuf/compiler/plugin.h>

#include "generator.h"

int main(int argc, char* argv[]) {
  gryphon::codegen::GryphonGenerator generator;
  return google::protobuf::compiler::PluginMain(argc, argv, &generator);
}
