# Identity parsers: the JWT checker and the messenger webhook / sign-in
# parsers (WhatsApp, WeChat). FUZZ mode configures only common/, protocol/
# and drivers/, so the auth sources are compiled in directly.
if(NOT TARGET PkgConfig::SODIUM)
  pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
endif()
if(NOT TARGET PkgConfig::LIBCRYPTO)
  pkg_check_modules(LIBCRYPTO REQUIRED IMPORTED_TARGET libcrypto)
endif()
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
find_path(MBEDTLS_INCLUDE mbedtls/md.h REQUIRED)
fitgate_fuzz_target(NAME fuzz_jwt
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_jwt.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/crypto.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/crypto_es256.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/jwt.c
  LIBS PkgConfig::SODIUM PkgConfig::CJSON PkgConfig::LIBCRYPTO ${MBEDCRYPTO_LIB})
target_include_directories(fuzz_jwt PRIVATE ${CMAKE_SOURCE_DIR}/cloud/auth ${MBEDTLS_INCLUDE})
fitgate_fuzz_target(NAME fuzz_webhook
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_webhook.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/crypto.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/whatsapp.c
          ${CMAKE_SOURCE_DIR}/cloud/auth/wechat.c
  LIBS PkgConfig::SODIUM PkgConfig::CJSON ${MBEDCRYPTO_LIB})
target_include_directories(fuzz_webhook PRIVATE ${CMAKE_SOURCE_DIR}/cloud/auth ${MBEDTLS_INCLUDE})
