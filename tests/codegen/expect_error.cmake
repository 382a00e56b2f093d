# Runs protoc with protoc-gen-gryphon and passes only if protoc fails with a message matching
# EXPECT: bad parameters and colliding names must be reported, naming what to fix.
#
#   cmake -DPROTOC=... -DPLUGIN=... -DPROTOS=<dir> -DWORK=<dir> -DOPTIONS=<plugin options>
#         -DPROTO=<file> -DEXPECT=<regex> -P expect_error.cmake
file(MAKE_DIRECTORY ${WORK})
string(REPLACE "|" "," OPTIONS "${OPTIONS}")
execute_process(
  COMMAND ${PROTOC} -I${PROTOS} --plugin=protoc-gen-gryphon=${PLUGIN}
          --gryphon_out=${OPTIONS}:${WORK} ${PROTO}
  WORKING_DIRECTORY ${PROTOS}
  RESULT_VARIABLE result
  OUTPUT_VARIABLE output
  ERROR_VARIABLE output)
if(result EQUAL 0)
  message(FATAL_ERROR "protoc succeeded; expected a failure matching: ${EXPECT}")
endif()
if(NOT output MATCHES "${EXPECT}")
  message(FATAL_ERROR "protoc failed, but its message does not match \"${EXPECT}\":\n${output}")
endif()
message(STATUS "failed as expected: ${output}")
