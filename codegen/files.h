// The text of every file protoc-gen-gryphon writes, one function per file, each a pure function
// of the FileModel.
//
//   <stem>.gryphon.h / .gryphon.cc    handler interfaces, their registration glue and each
//   service's
//                                     client; never edited
//   <stem>.skeleton.h / .skeleton.cc  an implementation to start from (skeleton=true|only)
//   main.cc, <stem>_test.cc           a new project's entry point and test (scaffold=NAME)
#pragma once

#include <string>
#include <vector>

#include "model.h"
#include "options.h"

namespace gryphon::codegen {

std::string handler_header(const FileModel& file, const GeneratorOptions& options);
// One service's <Service>Client, for handler_header.
std::string client_class(const ServiceModel& service);
std::string handler_source(const FileModel& file, const GeneratorOptions& options);
std::string skeleton_header(const FileModel& file, const GeneratorOptions& options);
std::string skeleton_source(const FileModel& file, const GeneratorOptions& options);
std::string scaffold_main(const FileModel& file, const GeneratorOptions& options);
std::string scaffold_test(const FileModel& file, const GeneratorOptions& options);

// Shared by the printers: how a handler method's parameters are spelled.
struct Spelling {
  std::string grpc_ns;     // "::grpc" in generated code, maybe "grpc" in skeletons
  std::string gryphon_ns;  // "::gryphon" or "gryphon"
  bool readable_types;     // TypeName::readable instead of ::qualified
};
enum class ParamNames { kNamed, kUnnamed, kMaybeUnused };

Spelling generated_spelling();
Spelling skeleton_spelling(const FileModel& file);
// `async`: the method belongs to an async interface or skeleton, whose streams are gryphon's
// AsyncWriter / AsyncReader / AsyncReaderWriter.
std::vector<std::string> method_params(const MethodModel& method, bool async,
                                       const Spelling& spelling, ParamNames names);
// Every method of an async interface is a coroutine.
bool is_coroutine(const MethodModel& method, bool async);
// What the method returns: "<grpc>::Status", or "<gryphon>::Task<<grpc>::Status>" for a coroutine.
std::string return_type(const MethodModel& method, bool async, const Spelling& spelling);
// How the UNIMPLEMENTED default returns: "return" or "co_return"; and the indent that aligns the
// status's second argument under its first ("  return ::grpc::Status(" is 24 columns).
const char* return_keyword(const MethodModel& method, bool async);
std::string status_argument_indent(const MethodModel& method, bool async, const Spelling& spelling);
const char* rpc_type_enumerator(RpcType kind);  // "kUnary", as in gryphon::RpcType
const char* bind_function(RpcType kind);        // "bind_unary", in gryphon/detail/binding.h
std::string open_namespace(const FileModel& file);
std::string close_namespace(const FileModel& file);

}  // namespace gryphon::codegen
