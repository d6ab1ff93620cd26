# Writes and installs effbench.pc for the prefix being installed to; run by
# `cmake --install` (CMakeLists.txt) and by tests/install.test.sh with a
# Debian multiarch LIBDIR. Inputs:
#   CMAKE_INSTALL_PREFIX  the install prefix (`cmake --install --prefix P` sets it)
#   LIBDIR, INCLUDEDIR    GNUInstallDirs' CMAKE_INSTALL_LIBDIR / _INCLUDEDIR,
#                         relative to the prefix (e.g. lib/x86_64-linux-gnu) or absolute
#   PC_IN, PC_OUT         scripts/effbench.pc.in and the file to write
#   PROJECT_VERSION       the version
# The .pc names absolute directories (what CMAKE_INSTALL_FULL_LIBDIR and
# _INCLUDEDIR are for this prefix), so it is right however deep the libdir
# is; DESTDIR (environment) is honoured by file(INSTALL).
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${${d}}")
    set(EB_PC_${d} "${${d}}")
  else()
    set(EB_PC_${d} "${CMAKE_INSTALL_PREFIX}/${${d}}")
  endif()
endforeach()
set(EB_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
configure_file("${PC_IN}" "${PC_OUT}" @ONLY)
file(INSTALL DESTINATION "${EB_PC_LIBDIR}/pkgconfig" TYPE FILE FILES "${PC_OUT}"
     RENAME effbench.pc)
