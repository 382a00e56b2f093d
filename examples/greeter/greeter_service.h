// The greeter's handlers: non-blocking, so the service is registered inline (no thread hop).
#pragma once

#include "greeter.gryphon.h"

namespace greeter {

class GreeterService final : public helloworld::GreeterHandler {
 public:
  grpc::Status SayHello(gryphon::Context& context, const helloworld::HelloRequest& request,
                        helloworld::HelloReply& reply) override;
  grpc::Status SayHelloStream(gryphon::Context& context, const helloworld::HelloRequest& request,
                              gryphon::ServerWriter<helloworld::HelloReply>& writer) override;
};

}  // namespace greeter
