// The parameters protoc-gen-gryphon accepts, and their parser.
//
// protoc hands a plugin one string: everything between `--gryphon_out=` and the `:` before the
// output directory. gryphon reads it as comma-separated key=value pairs. Every key must be known
// and every value valid; anything else is an error that names the offending key or value, because a
// silently ignored typo (`skeletons=true`) would produce code that quietly differs from what the
// build asked for.
#pragma once

#include <string>

namespace gryphon::codegen {

enum class SkeletonMode {
  kNone,  // only <file>.gryphon.{h,cc}
  kAlso,  // skeleton=true: the handler files and <file>.skeleton.{h,cc}
  kOnly,  // skeleton=only: only the skeletons (gryphon_generate() and `gryphon new` use this)
};

struct GeneratorOptions {
  // skeleton=true|false|only
  SkeletonMode skeleton = SkeletonMode::kNone;
  // pure_virtual=true|false: a handler method nobody overrides is a compile error (true) instead of
  // a default that answers UNIMPLEMENTED (false, the default).
  bool pure_virtual = false;
  // scaffold=NAME: also write the main.cc and test of a new project called NAME (`gryphon new`).
  std::string scaffold;
  // async=true|false: the skeletons (and the scaffold's tests) implement <Service>AsyncHandler,
  // every method a coroutine (`gryphon new --async`).
  bool async = false;

  bool writes_handlers() const { return skeleton != SkeletonMode::kOnly; }
  bool writes_skeletons() const { return skeleton != SkeletonMode::kNone; }
};

// Parses `parameter` into `options`. On bad input returns false and sets `error` to a message that
// names the key or value to fix.
bool parse_options(const std::string& parameter, GeneratorOptions* options, std::string* error);

}  // namespace gryphon::codegen
