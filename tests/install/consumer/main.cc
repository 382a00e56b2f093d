#include <gryphon/server.h>

#include "ping.gryphon.h"

class Pinger final : public consumer::PingerHandler {
 public:
  grpc::Status Ping(gryphon::Context&, const consumer::PingRequest& request,
                    consumer::PingReply& reply) override {
    reply.set_text("pong: " + request.text());
    return grpc::Status::OK;
  }
};

int main(int argc, char** argv) {
  gryphon::Server server("consumer");
  server.add_service<Pinger>({.inline_handlers = true});
  return server.run(argc, argv);
}
