# Bundle manifest parser (firmware-tools/src/bundle_manifest.c) and the
# signature/certificate path of fwsig_verify. FUZZ mode does not configure
# firmware-tools/, so the sources are compiled in directly.
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
find_library(MBEDX509_LIB mbedx509 REQUIRED)
find_path(MBEDTLS_INCLUDE mbedtls/md.h REQUIRED)
fitgate_fuzz_target(NAME fuzz_bundle
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bundle.c
          ${CMAKE_SOURCE_DIR}/firmware-tools/src/bundle_manifest.c
          ${CMAKE_SOURCE_DIR}/firmware-tools/src/fwsig.c
  LIBS PkgConfig::CJSON ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})
target_include_directories(fuzz_bundle PRIVATE ${CMAKE_SOURCE_DIR}/firmware-tools/src
                           ${MBEDTLS_INCLUDE})
