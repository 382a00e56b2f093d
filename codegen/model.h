// What protoc-gen-gryphon writes, in C++ terms: one FileModel per .proto file, built from
// protobuf's descriptors before any text is printed.
//
// All naming decisions live here, so the printers only print: which namespace a package becomes,
// what a nested message is called in C++ (Outer_Inner, as protobuf's own C++ generator names it),
// how a method whose name is a C++ keyword or clashes with a generated identifier is renamed
// (`delete` -> `delete_`, `gryphon_bind` -> `gryphon_bind_`), and which generated class names would
// collide with something protobuf or grpc_cpp_plugin already declares. A collision that cannot be
// resolved by renaming is an error naming both sides, never broken code.
#pragma once

#include <google/protobuf/descriptor.h>

#include <string>
#include <vector>

#include "options.h"

namespace gryphon::codegen {

// The four kinds of method a .proto declares, named as gryphon::RpcType names them at run time.
enum class RpcType { kUnary, kClientStreaming, kServerStreaming, kBidiStreaming };

// A C++ type as the generated code spells it.
struct TypeName {
  std::string qualified;  // always valid: "::helloworld::HelloRequest"
  std::string readable;   // for skeletons, valid inside the file's namespace: "HelloRequest"
};

struct MethodModel {
  std::string proto_name;  // the name on the wire: "SayHello", "delete"
  std::string cpp_name;    // the member function: "SayHello", "delete_"
  RpcType kind = RpcType::kUnary;
  TypeName request;
  TypeName response;
  std::vector<std::string> comments;  // lines to print after "//"
};

struct ServiceModel {
  std::string proto_name;     // "Greeter"
  std::string full_name;      // "helloworld.Greeter"
  std::string handler_class;  // "GreeterHandler"
  std::string async_class;    // "GreeterAsyncHandler": every method a coroutine
  std::string impl_class;     // "GreeterImpl"
  std::string client_class;   // "GreeterClient": calls to the service from a handler
  std::vector<std::string> comments;
  std::vector<MethodModel> methods;
};

struct FileModel {
  std::string proto_path;     // "helloworld/greeter.proto", as protoc names it
  std::string stem;           // "helloworld/greeter"
  std::string basename;       // "greeter"
  std::string cpp_namespace;  // "helloworld", "a::b::c" or "" for no package
  std::string include_guard;  // for <stem>.gryphon.h
  // How skeletons spell grpc:: and gryphon::; "::grpc" when the short form would be shadowed.
  std::string grpc_ns;
  std::string gryphon_ns;
  std::vector<ServiceModel> services;
};

// Fills `model` from `file`. Returns false with `error` set when a generated name would collide.
bool build_model(const google::protobuf::FileDescriptor* file, const GeneratorOptions& options,
                 FileModel* model, std::string* error);

}  // namespace gryphon::codegen
