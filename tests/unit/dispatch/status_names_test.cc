// gryphon::code_name: the Go-style status code names go-grpc-middleware logs and
// go-grpc-prometheus uses as the grpc_code label, so dashboards built for Go services work as-is.
#include "gryphon/interceptor.h"

#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

namespace gryphon {
namespace {

TEST_CASE("every gRPC status code has its Go name") {
  const std::vector<std::pair<grpc::StatusCode, std::string>> names{
      {grpc::StatusCode::OK, "OK"},
      {grpc::StatusCode::CANCELLED, "Canceled"},
      {grpc::StatusCode::UNKNOWN, "Unknown"},
      {grpc::StatusCode::INVALID_ARGUMENT, "InvalidArgument"},
      {grpc::StatusCode::DEADLINE_EXCEEDED, "DeadlineExceeded"},
      {grpc::StatusCode::NOT_FOUND, "NotFound"},
      {grpc::StatusCode::ALREADY_EXISTS, "AlreadyExists"},
      {grpc::StatusCode::PERMISSION_DENIED, "PermissionDenied"},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, "ResourceExhausted"},
      {grpc::StatusCode::FAILED_PRECONDITION, "FailedPrecondition"},
      {grpc::StatusCode::ABORTED, "Aborted"},
      {grpc::StatusCode::OUT_OF_RANGE, "OutOfRange"},
      {grpc::StatusCode::UNIMPLEMENTED, "Unimplemented"},
      {grpc::StatusCode::INTERNAL, "Internal"},
      {grpc::StatusCode::UNAVAILABLE, "Unavailable"},
      {grpc::StatusCode::DATA_LOSS, "DataLoss"},
      {grpc::StatusCode::UNAUTHENTICATED, "Unauthenticated"},
  };
  REQUIRE(names.size() == 17);  // codes 0..16, every code gRPC defines
  for (int i = 0; i < static_cast<int>(names.size()); ++i) {
    const auto& [code, name] = names[i];
    INFO("code " << i);
    CHECK(static_cast<int>(code) == i);
    CHECK(std::string(code_name(code)) == name);
  }
}

TEST_CASE("a code outside gRPC's range is named Unknown") {
  CHECK(std::string(code_name(static_cast<grpc::StatusCode>(17))) == "Unknown");
  CHECK(std::string(code_name(static_cast<grpc::StatusCode>(-1))) == "Unknown");
}

}  // namespace
}  // namespace gryphon
