// Compile-time checks of the pure_virtual=true variant: the interface is abstract, and a class
// that implements every method is not.
#include <type_traits>

#include "helloworld/greeter.gryphon.h"

namespace {

class CompleteGreeter : public helloworld::GreeterHandler {
 public:
  grpc::Status SayHello(gryphon::Context&, const helloworld::HelloRequest&,
                        helloworld::HelloReply&) override {
    return grpc::Status::OK;
  }
  grpc::Status SayHelloStream(gryphon::Context&, const helloworld::HelloRequest&,
                              gryphon::ServerWriter<helloworld::HelloReply>&) override {
    return grpc::Status::OK;
  }
  grpc::Status SayHelloToAll(gryphon::Context&, gryphon::ServerReader<helloworld::HelloRequest>&,
                             helloworld::HelloReply&) override {
    return grpc::Status::OK;
  }
  grpc::Status Chat(
      gryphon::Context&,
      gryphon::ServerReaderWriter<helloworld::HelloReply, helloworld::HelloRequest>&) override {
    return grpc::Status::OK;
  }
};

class IncompleteGreeter : public helloworld::GreeterHandler {
 public:
  grpc::Status SayHello(gryphon::Context&, const helloworld::HelloRequest&,
                        helloworld::HelloReply&) override {
    return grpc::Status::OK;
  }
};

static_assert(std::is_abstract_v<helloworld::GreeterHandler>);
static_assert(std::is_abstract_v<IncompleteGreeter>, "a missing method must be a compile error");
static_assert(!std::is_abstract_v<CompleteGreeter>);

}  // namespace
