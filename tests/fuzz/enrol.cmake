# fuzz_enrol_csr: the CSR checks behind the public POST /api/v1/enrol
# (cloud/enrol/enrol_x509.c). FUZZ mode configures only common/, protocol/ and
# drivers/, so the sources are compiled in directly.
if(NOT TARGET PkgConfig::SODIUM)
  pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
endif()
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
find_library(MBEDX509_LIB mbedx509 REQUIRED)
find_path(MBEDTLS_INCLUDE mbedtls/md.h REQUIRED)
fitgate_fuzz_target(NAME fuzz_enrol_csr
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_enrol_csr.c
          ${CMAKE_SOURCE_DIR}/cloud/enrol/enrol_x509.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/crypto.c
  LIBS fitcommon PkgConfig::SODIUM ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})
target_include_directories(fuzz_enrol_csr PRIVATE ${CMAKE_SOURCE_DIR}/cloud/enrol
                           ${CMAKE_SOURCE_DIR}/cloud/auth ${MBEDTLS_INCLUDE})
