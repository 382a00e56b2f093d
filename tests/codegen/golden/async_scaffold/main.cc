// greeter: a gryphon service created by `gryphon new` from helloworld/greeter.proto.
//
// Run `greeter --help` for the options (listen addresses, workers, drain timeouts, ...).
#include <gryphon/server.h>

#include "helloworld/greeter.skeleton.h"

int main(int argc, char** argv) {
  gryphon::Server server("greeter");
  server.add_service<helloworld::GreeterImpl>();
  return server.run(argc, argv);
}
