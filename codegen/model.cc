#include "model.h"

#include <google/protobuf/compiler/code_generator.h>
#include <google/protobuf/compiler/cpp/names.h>

#include <cctype>
#include <map>
#include <set>

#include "comments.h"

namespace gryphon::codegen {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;
using google::protobuf::ServiceDescriptor;

// C++20 keywords and alternative tokens, plus macros from the C library that would expand a
// member function's name (a method called `assert` or `errno` must not reach the preprocessor).
const std::set<std::string>& reserved_words() {
  static const std::set<std::string> words = {
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
      "case", "catch", "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept",
      "const", "consteval", "constexpr", "constinit", "const_cast", "continue", "co_await",
      "co_return", "co_yield", "decltype", "default", "delete", "do", "double", "dynamic_cast",
      "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
      "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
      "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
      "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static",
      "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local",
      "throw", "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using",
      "virtual", "void", "volatile", "wchar_t", "while", "xor", "xor_eq",
      // Macros.
      "NULL", "EOF", "assert", "errno", "offsetof", "linux", "unix", "major", "minor"};
  return words;
}

std::string dots_to_colons(const std::string& name) {
  std::string out;
  for (char c : name) {
    if (c == '.') {
      out += "::";
    } else {
      out += c;
    }
  }
  return out;
}

// Every class, enum and enum constant protobuf's C++ generator declares at namespace scope for
// this file: nested types are flattened (Outer_Inner), nested enum constants too (Outer_Kind_A).
// Maps each name to what declares it, for error messages.
using NamespaceNames = std::map<std::string, std::string>;

void collect_namespace_names(const EnumDescriptor* e, NamespaceNames* names) {
  namespace cpp = google::protobuf::compiler::cpp;
  names->emplace(cpp::ClassName(e), "enum " + e->full_name());
  const bool nested = e->containing_type() != nullptr;
  for (int i = 0; i < e->value_count(); ++i) {
    const std::string constant =
        nested ? cpp::ClassName(e) + "_" + e->value(i)->name() : e->value(i)->name();
    names->emplace(constant, "enum value " + e->value(i)->full_name());
  }
}

void collect_namespace_names(const Descriptor* d, NamespaceNames* names) {
  names->emplace(google::protobuf::compiler::cpp::ClassName(d), "message " + d->full_name());
  for (int i = 0; i < d->nested_type_count(); ++i)
    collect_namespace_names(d->nested_type(i), names);
  for (int i = 0; i < d->enum_type_count(); ++i) collect_namespace_names(d->enum_type(i), names);
}

class Namer {
 public:
  explicit Namer(const FileDescriptor* file) : file_(file) {
    for (int i = 0; i < file->message_type_count(); ++i) {
      collect_namespace_names(file->message_type(i), &namespace_names_);
    }
    for (int i = 0; i < file->enum_type_count(); ++i) {
      collect_namespace_names(file->enum_type(i), &namespace_names_);
    }
  }

  // Something other than gryphon already declares `name` in the file's namespace: a message, enum,
  // enum constant or service (grpc_cpp_plugin makes each service a class) of this package.
  std::string declared_in_namespace(const std::string& name) const {
    const auto it = namespace_names_.find(name);
    if (it != namespace_names_.end()) return it->second + " (C++ name " + name + ")";
    const std::string full = file_->package().empty() ? name : file_->package() + "." + name;
    if (file_->pool()->FindServiceByName(full) != nullptr) return "service " + full;
    if (file_->pool()->FindFileContainingSymbol(full) != nullptr) return "symbol " + full;
    return "";
  }

  // Whether an unqualified `name::` written inside the file's namespace could find something
  // other than the global namespace `name` (a package component, or a type named like it).
  bool shadows_global_namespace(const std::string& name) const {
    std::string scope = file_->package();
    while (!scope.empty()) {
      if (file_->pool()->FindFileContainingSymbol(scope + "." + name) != nullptr) return true;
      const auto dot = scope.rfind('.');
      scope = dot == std::string::npos ? "" : scope.substr(0, dot);
    }
    return false;
  }

  TypeName type_name(const Descriptor* message, const std::set<std::string>& class_scope) const {
    namespace cpp = google::protobuf::compiler::cpp;
    TypeName type;
    type.qualified = cpp::QualifiedClassName(message);
    const std::string short_name = cpp::ClassName(message);
    // A short name is readable but may be hidden by a member of the handler class (a method or
    // the base's injected class name) or belong to another package.
    if (message->file()->package() == file_->package() && class_scope.count(short_name) == 0) {
      type.readable = short_name;
    } else {
      type.readable = type.qualified;
    }
    return type;
  }

 private:
  const FileDescriptor* file_;
  NamespaceNames namespace_names_;
};

RpcType kind_of(const MethodDescriptor* method) {
  if (method->client_streaming() && method->server_streaming()) return RpcType::kBidiStreaming;
  if (method->client_streaming()) return RpcType::kClientStreaming;
  if (method->server_streaming()) return RpcType::kServerStreaming;
  return RpcType::kUnary;
}

bool build_service(const ServiceDescriptor* service, const Namer& namer,
                   const GeneratorOptions& options, ServiceModel* model, std::string* error) {
  model->proto_name = service->name();
  model->full_name = service->full_name();
  model->handler_class = service->name() + "Handler";
  model->async_class = service->name() + "AsyncHandler";
  model->impl_class = service->name() + "Impl";
  model->client_class = service->name() + "Client";
  model->comments = comment_lines(*service);

  std::vector<std::string> classes = {model->handler_class, model->async_class,
                                      model->client_class};
  if (options.writes_skeletons()) classes.push_back(model->impl_class);
  for (const std::string& cls : classes) {
    const std::string other = namer.declared_in_namespace(cls);
    if (!other.empty()) {
      *error = "service " + service->full_name() + ": the generated class " + cls +
               " collides with " + other + "; rename the service or the other definition";
      return false;
    }
  }

  // Names a method may not take: the members gryphon generates or inherits, and the classes'
  // own names (a member function named like its class would be a constructor).
  const std::set<std::string> taken = {"gryphon_bind",     "gryphon_info",    model->handler_class,
                                       model->async_class, model->impl_class, model->client_class};
  std::set<std::string> class_scope = {"Handler",          "gryphon_bind",
                                       "gryphon_info",     model->handler_class,
                                       model->async_class, model->impl_class};
  std::set<std::string> used;
  for (int i = 0; i < service->method_count(); ++i) {
    const MethodDescriptor* method = service->method(i);
    MethodModel m;
    m.proto_name = method->name();
    m.cpp_name = method->name();
    if (reserved_words().count(m.cpp_name) != 0 || taken.count(m.cpp_name) != 0) m.cpp_name += "_";
    if (!used.insert(m.cpp_name).second) {
      *error = "service " + service->full_name() + ": method " + method->name() +
               " would be generated as " + m.cpp_name +
               ", which another method of the service already uses; rename one of them";
      return false;
    }
    m.kind = kind_of(method);
    m.comments = comment_lines(*method);
    class_scope.insert(m.cpp_name);
    model->methods.push_back(std::move(m));
  }
  // The client's blocking form of a unary method is <Method>Blocking: no method may be named so.
  for (const MethodModel& m : model->methods) {
    if (m.kind == RpcType::kUnary && used.count(m.cpp_name + "Blocking") != 0) {
      *error = "service " + service->full_name() + ": method " + m.proto_name +
               "'s blocking call in " + model->client_class + " would be " + m.cpp_name +
               "Blocking, which is another method's name; rename one of them";
      return false;
    }
  }
  for (int i = 0; i < service->method_count(); ++i) {
    model->methods[i].request = namer.type_name(service->method(i)->input_type(), class_scope);
    model->methods[i].response = namer.type_name(service->method(i)->output_type(), class_scope);
  }
  return true;
}

std::string include_guard(const std::string& stem) {
  std::string guard = "GRYPHON_GENERATED_";
  for (char c : stem) {
    guard += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  }
  return guard + "_GRYPHON_H_";
}

}  // namespace

bool build_model(const FileDescriptor* file, const GeneratorOptions& options, FileModel* model,
                 std::string* error) {
  const Namer namer(file);
  model->proto_path = file->name();
  model->stem = google::protobuf::compiler::StripProto(file->name());
  const auto slash = model->stem.rfind('/');
  model->basename = slash == std::string::npos ? model->stem : model->stem.substr(slash + 1);
  model->cpp_namespace = dots_to_colons(file->package());
  model->include_guard = include_guard(model->stem);
  model->grpc_ns = namer.shadows_global_namespace("grpc") ? "::grpc" : "grpc";
  model->gryphon_ns = namer.shadows_global_namespace("gryphon") ? "::gryphon" : "gryphon";
  for (int i = 0; i < file->service_count(); ++i) {
    ServiceModel service;
    if (!build_service(file->service(i), namer, options, &service, error)) return false;
    model->services.push_back(std::move(service));
  }
  return true;
}

}  // namespace gryphon::codegen
