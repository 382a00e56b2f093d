# Installs headers, the library, protoc-gen-gryphon, gryphon_generate() and a package config so
# that `find_package(gryphon)` gives `gryphon::gryphon` and `gryphon_generate()`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS gryphon gryphon_interceptors gryphon_core EXPORT gryphonTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY framework/include/gryphon
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT gryphonTargets NAMESPACE gryphon::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gryphon)
configure_package_config_file(cmake/gryphonConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gryphonConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gryphon)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gryphonConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/gryphonConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/gryphonConfigVersion.cmake
  cmake/GryphonDependencies.cmake
  cmake/GryphonGenerate.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gryphon)
