# Finds every dependency gryphon builds against. Used by the build and, through
# gryphonConfig.cmake, by projects that consume an installed gryphon.
include(CMakeFindDependencyMacro)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)            # module mode on Debian 12: there is no config file
find_package(gRPC CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED)          # Asio is header-only
find_package(spdlog CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)  # no version file: never pass a version
find_package(CLI11 CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
# The native transport: nghttp2 (libnghttp2-dev has a pkg-config file, no CMake config) and zlib.
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(NGHTTP2 REQUIRED IMPORTED_TARGET GLOBAL libnghttp2)
