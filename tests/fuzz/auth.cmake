# Telegram init data parser and checks. FUZZ mode configures only common/,
# protocol/ and drivers/, so the auth sources are compiled in directly.
if(NOT TARGET PkgConfig::SODIUM)
  pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
endif()
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
find_path(MBEDTLS_INCLUDE mbedtls/md.h REQUIRED)
fitgate_fuzz_target(NAME fuzz_initdata
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_initdata.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/crypto.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/tg_initdata.c
  LIBS PkgConfig::SODIUM PkgConfig::CJSON ${MBEDCRYPTO_LIB})
target_include_directories(fuzz_initdata PRIVATE ${CMAKE_SOURCE_DIR}/cloud/auth ${MBEDTLS_INCLUDE})
