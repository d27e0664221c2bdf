# Debian package: cpack -G DEB, from a tree configured with
# -DCMAKE_INSTALL_PREFIX=/usr (scripts/build-deb.sh does both).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME sockaccel)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "sockaccel developers <sockaccel-devel@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "sockmap acceleration of TCP between local processes")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"sockacceld loads a sockops program on a cgroup v2 directory and an sk_msg
program on a SOCKHASH, so TCP connections between processes of this host
skip the TCP/IP stack. Programs, map and links are pinned in bpffs and keep
working while the daemon restarts or is upgraded.
.
Removing the package stops the service but leaves the fast path in place;
run 'sockaccelctl disable' first (or rm -r /sys/fs/bpf/sockaccel) to remove
it.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/sockaccel")
# dpkg-shlibdeps derives libbpf1, libelf1, libsystemd0, libmicrohttpd12, zlib1g and libc6
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libelf1")
# Only the systemd unit needs these (procps: /bin/kill for ExecReload=); the
# maintainer scripts skip systemctl without systemd, and the container image
# (scripts/build-image.sh) runs sockacceld without either.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "systemd, procps")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/scripts/deb/conffiles
  ${CMAKE_SOURCE_DIR}/scripts/deb/postinst
  ${CMAKE_SOURCE_DIR}/scripts/deb/prerm
  ${CMAKE_SOURCE_DIR}/scripts/deb/postrm)

# What Debian policy wants beside the binaries: gzipped man pages and
# changelog, a copyright file.
set(SA_DOC_OUT ${CMAKE_BINARY_DIR}/deb-doc)
set(SA_GZ_FILES)
foreach(src docs/man/sockacceld.8 docs/man/sockaccelctl.8 docs/man/sockaccel.conf.5
            scripts/deb/changelog)
  get_filename_component(name ${src} NAME)
  add_custom_command(OUTPUT ${SA_DOC_OUT}/${name}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${SA_DOC_OUT}
    COMMAND gzip -9n -c ${CMAKE_SOURCE_DIR}/${src} > ${SA_DOC_OUT}/${name}.gz
    DEPENDS ${CMAKE_SOURCE_DIR}/${src} VERBATIM)
  list(APPEND SA_GZ_FILES ${SA_DOC_OUT}/${name}.gz)
endforeach()
add_custom_target(deb_docs ALL DEPENDS ${SA_GZ_FILES})
install(FILES ${SA_DOC_OUT}/sockacceld.8.gz ${SA_DOC_OUT}/sockaccelctl.8.gz
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${SA_DOC_OUT}/sockaccel.conf.5.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
install(FILES ${SA_DOC_OUT}/changelog.gz ${CMAKE_SOURCE_DIR}/scripts/deb/copyright
  DESTINATION ${CMAKE_INSTALL_DOCDIR})

include(CPack)
