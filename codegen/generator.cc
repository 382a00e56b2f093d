#include "generator.h"

#include <google/protobuf/io/printer.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <memory>

#include "files.h"
#include "model.h"
#include "options.h"

namespace gryphon::codegen {
namespace {

// Templates are written for reading; this keeps what they leave behind tidy: at most one blank
// line in a row and exactly one newline at the end.
std::string tidy(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  int newlines = 0;
  for (char c : text) {
    newlines = c == '\n' ? newlines + 1 : 0;
    if (newlines <= 2) out += c;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out + '\n';
}

bool write_file(google::protobuf::compiler::GeneratorContext* context, const std::string& name,
                const std::string& text, std::string* error) {
  std::unique_ptr<google::protobuf::io::ZeroCopyOutputStream> out(context->Open(name));
  google::protobuf::io::Printer printer(out.get(), '$');
  printer.PrintRaw(tidy(text));
  if (printer.failed()) {
    *error = "cannot write " + name;
    return false;
  }
  return true;
}

}  // namespace

bool GryphonGenerator::GenerateAll(
    const std::vector<const google::protobuf::FileDescriptor*>& files, const std::string& parameter,
    google::protobuf::compiler::GeneratorContext* context, std::string* error) const {
  GeneratorOptions options;
  if (!parse_options(parameter, &options, error)) return false;
  if (!options.scaffold.empty() && files.size() != 1) {
    *error = "parameter \"scaffold\" takes exactly one .proto file (got " +
             std::to_string(files.size()) + "): the project's main.cc registers its services";
    return false;
  }
  for (const auto* file : files) {
    if (!Generate(file, parameter, context, error)) return false;
  }
  return true;
}

bool GryphonGenerator::Generate(const google::protobuf::FileDescriptor* file,
                                const std::string& parameter,
                                google::protobuf::compiler::GeneratorContext* context,
                                std::string* error) const {
  GeneratorOptions options;
  if (!parse_options(parameter, &options, error)) return false;
  FileModel model;
  if (!build_model(file, options, &model, error)) {
    *error = file->name() + ": " + *error;
    return false;
  }
  if (options.writes_handlers()) {
    if (!write_file(context, model.stem + ".gryphon.h", handler_header(model, options), error) ||
        !write_file(context, model.stem + ".gryphon.cc", handler_source(model, options), error)) {
      return false;
    }
  }
  if (options.writes_skeletons()) {
    if (!write_file(context, model.stem + ".skeleton.h", skeleton_header(model, options), error) ||
        !write_file(context, model.stem + ".skeleton.cc", skeleton_source(model, options), error)) {
      return false;
    }
  }
  if (!options.scaffold.empty()) {
    if (!write_file(context, "main.cc", scaffold_main(model, options), error) ||
        !write_file(context, model.stem + "_test.cc", scaffold_test(model, options), error)) {
      return false;
    }
  }
  return true;
}

}  // namespace gryphon::codegen
