// The greeter server: a gryphon master with pre-forked workers (see `greeter_server --help`).
#include <gryphon/server.h>

#include "greeter_service.h"

int main(int argc, char** argv) {
  gryphon::Server server("greeter_server");
  server.add_service<greeter::GreeterService>({.inline_handlers = true});
  return server.run(argc, argv);
}
