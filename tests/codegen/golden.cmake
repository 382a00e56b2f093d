# Golden-file test of protoc-gen-gryphon: runs protoc with the plugin over the corpus in protos/ and
# compares every file it writes with golden/<variant>/, or rewrites golden/ in update mode.
#
#   cmake -DPROTOC=... -DPLUGIN=... -DPROTOS=<protos dir> -DGOLDEN=<golden dir> -DWORK=<scratch dir>
#         [-DPROTOBUF_INCLUDE=<dir>] [-DUPDATE=ON] -P golden.cmake
#
# Update the goldens with `cmake --build <build> --target update-goldens`, then review the diff.

# Each variant: a name, the plugin options, and the protos it runs over.
set(corpus helloworld/greeter.proto common/types.proto acme/billing/v1/billing.proto
           nopackage.proto acme/collisions.proto)
set(variants default pure_virtual scaffold async_scaffold)
set(default_options skeleton=true)
set(default_protos ${corpus})
set(pure_virtual_options pure_virtual=true)
set(pure_virtual_protos helloworld/greeter.proto)
set(scaffold_options skeleton=only,scaffold=greeter)
set(scaffold_protos helloworld/greeter.proto)
set(async_scaffold_options skeleton=only,scaffold=greeter,async=true)
set(async_scaffold_protos helloworld/greeter.proto)

foreach(required PROTOC PLUGIN PROTOS GOLDEN WORK)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "golden.cmake: -D${required}=... is required")
  endif()
endforeach()
set(include_args -I${PROTOS})
if(PROTOBUF_INCLUDE)
  list(APPEND include_args -I${PROTOBUF_INCLUDE})
endif()

set(failures 0)
foreach(variant IN LISTS variants)
  set(out ${WORK}/${variant})
  file(REMOVE_RECURSE ${out})
  file(MAKE_DIRECTORY ${out})
  execute_process(
    COMMAND ${PROTOC} ${include_args} --plugin=protoc-gen-gryphon=${PLUGIN}
            --gryphon_out=${${variant}_options}:${out} ${${variant}_protos}
    WORKING_DIRECTORY ${PROTOS}
    RESULT_VARIABLE result
    ERROR_VARIABLE error)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "protoc failed for variant ${variant}:\n${error}")
  endif()

  if(UPDATE)
    file(REMOVE_RECURSE ${GOLDEN}/${variant})
    file(COPY ${out}/ DESTINATION ${GOLDEN}/${variant})
    message(STATUS "updated ${GOLDEN}/${variant}")
    continue()
  endif()

  file(GLOB_RECURSE produced RELATIVE ${out} ${out}/*)
  file(GLOB_RECURSE expected RELATIVE ${GOLDEN}/${variant} ${GOLDEN}/${variant}/*)
  set(all ${produced} ${expected})
  list(REMOVE_DUPLICATES all)
  list(SORT all)
  foreach(file IN LISTS all)
    set(actual_file ${out}/${file})
    set(golden_file ${GOLDEN}/${variant}/${file})
    if(NOT EXISTS ${golden_file})
      message(SEND_ERROR "${variant}/${file}: generated but has no golden")
      math(EXPR failures "${failures} + 1")
    elseif(NOT EXISTS ${actual_file})
      message(SEND_ERROR "${variant}/${file}: golden exists but the plugin no longer writes it")
      math(EXPR failures "${failures} + 1")
    else()
      execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${golden_file} ${actual_file}
                      RESULT_VARIABLE differs)
      if(differs)
        execute_process(COMMAND diff -u ${golden_file} ${actual_file} OUTPUT_VARIABLE diff)
        message(SEND_ERROR "${variant}/${file} differs from its golden:\n${diff}")
        math(EXPR failures "${failures} + 1")
      endif()
    endif()
  endforeach()
endforeach()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} generated file(s) differ from tests/codegen/golden/. If the "
                      "change is intended: cmake --build <build dir> --target update-goldens")
endif()
