# gryphon_go_program(<target>
#                    SOURCES <file.go>...      # the program: files of package main
#                    PROTOS <file.proto>...    # generated into one Go package, GO_PACKAGE
#                    GO_PACKAGE <import path>  # e.g. gryphon/bench/echopb
#                    [IMPORT_DIR <dir>]        # protoc's -I; default: the current source directory
#                    [OUTPUT <file>]           # default: ${CMAKE_CURRENT_BINARY_DIR}/<target>
#                    [ALL])                    # build it with the default target
#
# Builds a Go gRPC program offline, in GOPATH mode (GO111MODULE=off, GOPROXY=off), against
# Debian's Go sources in /usr/share/gocode (golang-google-grpc-dev, golang-google-protobuf-dev).
# protoc-gen-go is built from those sources too (bookworm packages no binary of it);
# protoc-gen-go-grpc is Debian's. The protos need no go_package option: each is mapped to
# GO_PACKAGE (protoc's M option). Generated code and protoc-gen-go live in the calling directory's
# build tree under go/; Go's build cache is shared by the whole build tree (go-cache/).
#
# Without Go, <target> only prints what is missing (and configuring says so once), so that the
# rest of the build goes on; GRYPHON_GO_FOUND tells a caller which case it is in.
# Variables are per directory, so this runs once in each directory that includes it.
include_guard(DIRECTORY)

set(GRYPHON_GOCODE /usr/share/gocode)
find_program(GRYPHON_GO go)
find_program(GRYPHON_PROTOC_GEN_GO_GRPC protoc-gen-go-grpc)
if(GRYPHON_GO AND GRYPHON_PROTOC_GEN_GO_GRPC
   AND EXISTS ${GRYPHON_GOCODE}/src/google.golang.org/grpc/server.go
   AND EXISTS ${GRYPHON_GOCODE}/src/google.golang.org/protobuf/cmd/protoc-gen-go)
  set(GRYPHON_GO_FOUND TRUE)
else()
  set(GRYPHON_GO_FOUND FALSE)
endif()

function(gryphon_go_program target)
  cmake_parse_arguments(GO "ALL" "GO_PACKAGE;IMPORT_DIR;OUTPUT" "SOURCES;PROTOS" ${ARGN})
  if(GO_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "gryphon_go_program(${target}): unknown arguments: ${GO_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT GO_SOURCES OR NOT GO_PROTOS OR NOT GO_GO_PACKAGE)
    message(FATAL_ERROR "gryphon_go_program(${target}): give SOURCES, PROTOS and GO_PACKAGE")
  endif()
  if(NOT GO_OUTPUT)
    set(GO_OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/${target})
  endif()
  set(all)
  if(GO_ALL)
    set(all ALL)
  endif()
  if(NOT GRYPHON_GO_FOUND)
    message(STATUS "${target}: skipped (needs go, protoc-gen-go-grpc and the Go gRPC and protobuf "
                   "sources in ${GRYPHON_GOCODE}: scripts/install-deps.sh installs them)")
    add_custom_target(${target}
      COMMAND ${CMAKE_COMMAND} -E echo "${target}: Go or its gRPC sources are missing; not built "
              "(run scripts/install-deps.sh, then configure again)")
    return()
  endif()

  if(TARGET protobuf::protoc)
    set(protoc $<TARGET_FILE:protobuf::protoc>)
  else()
    find_program(GRYPHON_GO_PROTOC protoc REQUIRED)
    set(protoc ${GRYPHON_GO_PROTOC})
  endif()
  if(NOT GO_IMPORT_DIR)
    set(GO_IMPORT_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  set(sources)
  foreach(source IN LISTS GO_SOURCES)
    get_filename_component(abs ${source} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND sources ${abs})
  endforeach()

  set(go_dir ${CMAKE_CURRENT_BINARY_DIR}/go)
  set(package_dir ${go_dir}/src/${GO_GO_PACKAGE})
  set(go_env ${CMAKE_COMMAND} -E env GO111MODULE=off GOPROXY=off GOFLAGS=
      GOPATH=${go_dir}:${GRYPHON_GOCODE} GOCACHE=${CMAKE_BINARY_DIR}/go-cache)
  set(protoc_gen_go ${go_dir}/bin/protoc-gen-go)
  get_property(has_protoc_gen_go DIRECTORY PROPERTY GRYPHON_GO_PROTOC_GEN_GO)
  if(NOT has_protoc_gen_go)
    # One protoc-gen-go per calling directory; the shared cache makes the second one a link.
    set_property(DIRECTORY PROPERTY GRYPHON_GO_PROTOC_GEN_GO TRUE)
    add_custom_command(
      OUTPUT ${protoc_gen_go}
      COMMAND ${go_env} ${GRYPHON_GO} build -o ${protoc_gen_go} google.golang.org/protobuf/cmd/protoc-gen-go
      COMMENT "go build protoc-gen-go"
      VERBATIM)
  endif()

  set(maps)
  set(protos)
  set(generated)
  foreach(proto IN LISTS GO_PROTOS)
    get_filename_component(abs ${proto} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    file(RELATIVE_PATH rel ${GO_IMPORT_DIR} ${abs})
    if(rel MATCHES "^\\.\\./")
      message(FATAL_ERROR "gryphon_go_program(${target}): ${abs} is not under IMPORT_DIR ${GO_IMPORT_DIR}")
    endif()
    list(APPEND protos ${abs})
    list(APPEND maps M${rel}=${GO_GO_PACKAGE})
    get_filename_component(stem ${abs} NAME_WE)
    list(APPEND generated ${package_dir}/${stem}.pb.go)
    # protoc-gen-go-grpc writes a file only for a proto that declares a service.
    file(STRINGS ${abs} services REGEX "^[ \t]*service[ \t]")
    if(services)
      list(APPEND generated ${package_dir}/${stem}_grpc.pb.go)
    endif()
  endforeach()
  list(JOIN maps "," maps)
  add_custom_command(
    OUTPUT ${generated}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${go_dir}/src
    COMMAND ${protoc} -I ${GO_IMPORT_DIR}
            --plugin=protoc-gen-go=${protoc_gen_go}
            --plugin=protoc-gen-go-grpc=${GRYPHON_PROTOC_GEN_GO_GRPC}
            --go_out=${go_dir}/src --go_opt=${maps}
            --go-grpc_out=${go_dir}/src --go-grpc_opt=${maps}
            ${protos}
    DEPENDS ${protos} ${protoc_gen_go}
    COMMENT "protoc --go_out --go-grpc_out for ${target}"
    VERBATIM)
  # go build tracks the Go packages itself (its cache); CMake only needs to know our own files.
  add_custom_command(
    OUTPUT ${GO_OUTPUT}
    COMMAND ${go_env} ${GRYPHON_GO} build -o ${GO_OUTPUT} ${sources}
    DEPENDS ${sources} ${generated}
    COMMENT "go build ${target}"
    VERBATIM)
  add_custom_target(${target} ${all} DEPENDS ${GO_OUTPUT})
endfunction()
