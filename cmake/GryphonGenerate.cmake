# gryphon_generate(<target>
#                  PROTOS <file.proto>...
#                  [IMPORT_DIRS <dir>...]
#                  [OPTIONS <key=value>...]       # passed to protoc-gen-gryphon (codegen/README.md)
#                  [OUT_DIR <dir>]                # default: ${CMAKE_CURRENT_BINARY_DIR}/gryphon_gen
#                  [SKELETON_DIR <dir>]           # copy missing skeletons here; implies skeleton=true
#                  [NO_GRPC]                      # no grpc_cpp_plugin stubs (gryphon serves without them)
#                  [NO_GRYPHON])                  # only protobuf + gRPC code, no handler interfaces
#
# Runs protoc with the C++ generator, grpc_cpp_plugin and protoc-gen-gryphon for each proto and adds
# the generated sources and include directory to <target>. Protos may live inside or outside the
# source tree: each file is named to protoc relative to the import directory that contains it (the
# first match in IMPORT_DIRS, else its own directory), so imports resolve the same way everywhere.
# Generated code is rebuilt when a proto or anything it imports changes (protoc's dependency file).
#
# Skeletons (OPTIONS skeleton=true, or SKELETON_DIR): protoc-gen-gryphon writes
# <OUT_DIR>/skeleton/<stem>.skeleton.{h,cc}, a class per service with every method answering
# UNIMPLEMENTED. That directory is deliberately not on any include path: the copy a team edits is
# the only one its code can include. With SKELETON_DIR, each skeleton is copied to
# <SKELETON_DIR>/<stem>.skeleton.{h,cc} only when that file does not exist — never overwritten, so
# delete a file to get a fresh one (protos that declare no service get no copy). The copy happens at configure time when protoc-gen-gryphon is
# already built (an installed gryphon), so the files can be listed as sources right away; and again
# at build time, which covers gryphon's own build tree, where the plugin is built with the project.
include_guard(GLOBAL)

# Script mode, used by the build-time copy: cmake -DGRYPHON_COPY_FROM=a|b -DGRYPHON_COPY_TO=c|d -P
if(CMAKE_SCRIPT_MODE_FILE AND DEFINED GRYPHON_COPY_FROM)
  string(REPLACE "|" ";" from "${GRYPHON_COPY_FROM}")
  string(REPLACE "|" ";" to "${GRYPHON_COPY_TO}")
  foreach(source destination IN ZIP_LISTS from to)
    # A proto without services has an empty skeleton: not worth a file in the source tree.
    file(STRINGS "${source}" no_service REGEX "declares no service\\.$" LIMIT_COUNT 1)
    if(NOT EXISTS "${destination}" AND NOT no_service)
      get_filename_component(dir "${destination}" DIRECTORY)
      file(MAKE_DIRECTORY "${dir}")
      file(COPY_FILE "${source}" "${destination}")
      message(STATUS "gryphon: created ${destination} from the generated skeleton")
    endif()
  endforeach()
  return()
endif()

set(_GRYPHON_GENERATE_SCRIPT ${CMAKE_CURRENT_LIST_FILE} CACHE INTERNAL "")

function(_gryphon_find_tools)
  if(NOT GRYPHON_PROTOC)
    if(TARGET protobuf::protoc)
      set(GRYPHON_PROTOC $<TARGET_FILE:protobuf::protoc> PARENT_SCOPE)
    else()
      find_program(_protoc protoc REQUIRED)
      set(GRYPHON_PROTOC ${_protoc} PARENT_SCOPE)
    endif()
  endif()
  if(NOT GRYPHON_GRPC_CPP_PLUGIN)
    if(TARGET gRPC::grpc_cpp_plugin)
      set(GRYPHON_GRPC_CPP_PLUGIN $<TARGET_FILE:gRPC::grpc_cpp_plugin> PARENT_SCOPE)
    else()
      find_program(_grpc_plugin grpc_cpp_plugin REQUIRED)
      set(GRYPHON_GRPC_CPP_PLUGIN ${_grpc_plugin} PARENT_SCOPE)
    endif()
  endif()
endfunction()

# The path of an imported executable target, usable at configure time; "" for a target this build
# has yet to build.
function(_gryphon_configure_time_path out target)
  set(path "")
  if(TARGET ${target})
    get_target_property(aliased ${target} ALIASED_TARGET)
    if(aliased)
      set(target ${aliased})
    endif()
    get_target_property(imported ${target} IMPORTED)
    if(imported)
      get_target_property(path ${target} LOCATION)
    endif()
  endif()
  set(${out} "${path}" PARENT_SCOPE)
endfunction()

function(gryphon_generate target)
  cmake_parse_arguments(GG "NO_GRYPHON;NO_GRPC" "OUT_DIR;SKELETON_DIR" "PROTOS;IMPORT_DIRS;OPTIONS"
                        ${ARGN})
  if(GG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "gryphon_generate(${target}): unknown arguments: ${GG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT GG_PROTOS)
    message(FATAL_ERROR "gryphon_generate(${target}): PROTOS is empty; name at least one .proto file")
  endif()
  if(NOT GG_OUT_DIR)
    set(GG_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/gryphon_gen)
  endif()
  get_filename_component(GG_OUT_DIR ${GG_OUT_DIR} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_BINARY_DIR})
  set(skeleton_out ${GG_OUT_DIR}/skeleton)
  _gryphon_find_tools()

  set(import_dirs)
  foreach(dir IN LISTS GG_IMPORT_DIRS)
    get_filename_component(abs ${dir} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    list(APPEND import_dirs ${abs})
  endforeach()

  # skeleton=true|only is not passed to the main run: skeletons get a run of their own, into a
  # directory that is not on the include path. Any other value goes to the plugin, which rejects it.
  set(skeleton FALSE)
  set(options)
  foreach(option IN LISTS GG_OPTIONS)
    if(option MATCHES "^skeleton=(true|only)$")
      set(skeleton TRUE)
    elseif(NOT option STREQUAL "skeleton=false")
      list(APPEND options ${option})
    endif()
  endforeach()
  if(GG_SKELETON_DIR)
    set(skeleton TRUE)
    get_filename_component(GG_SKELETON_DIR ${GG_SKELETON_DIR} ABSOLUTE
                           BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  list(JOIN options "," gryphon_options)
  set(skeleton_options ${options} skeleton=only)
  list(JOIN skeleton_options "," skeleton_options)

  set(with_gryphon FALSE)
  if(NOT GG_NO_GRYPHON)
    if(TARGET gryphon::protoc-gen-gryphon)
      set(with_gryphon TRUE)
      set(gryphon_plugin $<TARGET_FILE:gryphon::protoc-gen-gryphon>)
    else()
      message(FATAL_ERROR "gryphon_generate(${target}): protoc-gen-gryphon is not available; "
                          "find_package(gryphon) first or pass NO_GRYPHON")
    endif()
  elseif(skeleton)
    message(FATAL_ERROR "gryphon_generate(${target}): skeletons need protoc-gen-gryphon; "
                        "drop NO_GRYPHON or the skeleton option")
  endif()

  file(MAKE_DIRECTORY ${GG_OUT_DIR})
  set(generated)
  set(skeleton_outs)
  set(skeleton_copies)
  set(missing_skeletons FALSE)
  set(configure_time_commands)
  foreach(proto IN LISTS GG_PROTOS)
    get_filename_component(abs ${proto} ABSOLUTE BASE_DIR ${CMAKE_CURRENT_SOURCE_DIR})
    set(root "")
    foreach(dir IN LISTS import_dirs)
      cmake_path(IS_PREFIX dir "${abs}" NORMALIZE inside)
      if(inside)
        set(root ${dir})
        break()
      endif()
    endforeach()
    if(NOT root)
      get_filename_component(root ${abs} DIRECTORY)
    endif()
    file(RELATIVE_PATH rel ${root} ${abs})
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})

    set(include_args -I${root})
    foreach(dir IN LISTS import_dirs)
      if(NOT dir STREQUAL root)
        list(APPEND include_args -I${dir})
      endif()
    endforeach()
    if(Protobuf_INCLUDE_DIRS)
      list(APPEND include_args -I${Protobuf_INCLUDE_DIRS})
    endif()

    set(outs ${GG_OUT_DIR}/${stem}.pb.cc ${GG_OUT_DIR}/${stem}.pb.h)
    set(plugin_args)
    if(NOT GG_NO_GRPC)
      list(APPEND outs ${GG_OUT_DIR}/${stem}.grpc.pb.cc ${GG_OUT_DIR}/${stem}.grpc.pb.h)
      list(APPEND plugin_args --plugin=protoc-gen-grpc=${GRYPHON_GRPC_CPP_PLUGIN}
                              --grpc_out=${GG_OUT_DIR})
    endif()
    set(deps ${abs})
    if(with_gryphon)
      list(APPEND outs ${GG_OUT_DIR}/${stem}.gryphon.h ${GG_OUT_DIR}/${stem}.gryphon.cc)
      list(APPEND plugin_args --plugin=protoc-gen-gryphon=${gryphon_plugin}
                              --gryphon_out=${gryphon_options}:${GG_OUT_DIR})
      list(APPEND deps gryphon::protoc-gen-gryphon)
    endif()
    set(depfile ${GG_OUT_DIR}/${stem}.gryphon_deps)
    # protoc's dependency file names the outputs sorted; Ninja wants the first to be ours.
    list(SORT outs)
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${GRYPHON_PROTOC} ${include_args} --cpp_out=${GG_OUT_DIR} ${plugin_args}
              --dependency_out=${depfile} ${abs}
      DEPENDS ${deps}
      DEPFILE ${depfile}
      COMMENT "gryphon_generate: ${rel}"
      VERBATIM)
    list(APPEND generated ${outs})

    if(skeleton)
      set(outs ${skeleton_out}/${stem}.skeleton.h ${skeleton_out}/${stem}.skeleton.cc)
      set(skeleton_args --plugin=protoc-gen-gryphon=${gryphon_plugin}
                        --gryphon_out=${skeleton_options}:${skeleton_out})
      add_custom_command(
        OUTPUT ${outs}
        COMMAND ${CMAKE_COMMAND} -E make_directory ${skeleton_out}
        COMMAND ${GRYPHON_PROTOC} ${include_args} ${skeleton_args} ${abs}
        DEPENDS ${abs} gryphon::protoc-gen-gryphon
        COMMENT "gryphon_generate: ${rel} (skeleton)"
        VERBATIM)
      list(APPEND skeleton_outs ${outs})
      if(GG_SKELETON_DIR)
        foreach(suffix h cc)
          set(copy ${GG_SKELETON_DIR}/${stem}.skeleton.${suffix})
          list(APPEND skeleton_copies ${copy})
          if(NOT EXISTS ${copy})
            set(missing_skeletons TRUE)
          endif()
        endforeach()
        list(JOIN include_args "|" joined)
        list(APPEND configure_time_commands "${joined}|${abs}")
      endif()
    endif()
  endforeach()

  target_sources(${target} PRIVATE ${generated})
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${GG_OUT_DIR}>)
  target_link_libraries(${target} PUBLIC gRPC::grpc++ protobuf::libprotobuf)
  if(with_gryphon AND TARGET gryphon::gryphon)
    target_link_libraries(${target} PUBLIC gryphon::gryphon)
  endif()

  if(skeleton AND NOT GG_SKELETON_DIR)
    # Generated for reading and copying, not compiled.
    target_sources(${target} PRIVATE ${skeleton_outs})
    set_source_files_properties(${skeleton_outs} PROPERTIES HEADER_FILE_ONLY TRUE)
  elseif(GG_SKELETON_DIR)
    _gryphon_skeletons_at_configure_time()
    list(JOIN skeleton_outs "|" from)
    list(JOIN skeleton_copies "|" to)
    add_custom_target(${target}_skeletons
      COMMAND ${CMAKE_COMMAND} -DGRYPHON_COPY_FROM=${from} -DGRYPHON_COPY_TO=${to}
              -P ${_GRYPHON_GENERATE_SCRIPT}
      DEPENDS ${skeleton_outs}
      COMMENT "gryphon_generate: copying skeletons missing from ${GG_SKELETON_DIR}, if any"
      VERBATIM)
    add_dependencies(${target} ${target}_skeletons)
  endif()
endfunction()

# Part of gryphon_generate(): runs protoc now, when the plugin already exists, so that skeletons
# missing from SKELETON_DIR are there before the first build and can be listed as sources.
macro(_gryphon_skeletons_at_configure_time)
  _gryphon_configure_time_path(configure_plugin gryphon::protoc-gen-gryphon)
  _gryphon_configure_time_path(configure_protoc protobuf::protoc)
  if(NOT configure_protoc AND Protobuf_PROTOC_EXECUTABLE)
    set(configure_protoc ${Protobuf_PROTOC_EXECUTABLE})
  endif()
  if(missing_skeletons AND configure_plugin AND configure_protoc)
    set(seed ${CMAKE_CURRENT_BINARY_DIR}/gryphon_skeleton_seed/${target})
    file(REMOVE_RECURSE ${seed})
    file(MAKE_DIRECTORY ${seed})
    foreach(args IN LISTS configure_time_commands)
      string(REPLACE "|" ";" args "${args}")
      execute_process(
        COMMAND ${configure_protoc} ${args} --plugin=protoc-gen-gryphon=${configure_plugin}
                --gryphon_out=${skeleton_options}:${seed}
        RESULT_VARIABLE result
        ERROR_VARIABLE error)
      if(NOT result EQUAL 0)
        message(FATAL_ERROR "gryphon_generate(${target}): protoc failed writing skeletons:\n${error}")
      endif()
    endforeach()
    foreach(generated_file copy IN ZIP_LISTS skeleton_outs skeleton_copies)
      file(RELATIVE_PATH rel ${skeleton_out} ${generated_file})
      set(no_service "")
      if(EXISTS ${seed}/${rel})
        file(STRINGS ${seed}/${rel} no_service REGEX "declares no service\\.$" LIMIT_COUNT 1)
      endif()
      if(NOT EXISTS ${copy} AND EXISTS ${seed}/${rel} AND NOT no_service)
        get_filename_component(dir ${copy} DIRECTORY)
        file(MAKE_DIRECTORY ${dir})
        file(COPY_FILE ${seed}/${rel} ${copy})
        message(STATUS "gryphon: created ${copy} from the generated skeleton")
      endif()
    endforeach()
  endif()
endmacro()
