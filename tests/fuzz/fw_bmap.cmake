# fuzz_bmap: bmap_parse() over arbitrary bytes. firmware-tools/ is not
# configured in fuzz mode, so bmap.c is compiled in directly (it needs only
# mbedcrypto for sha256).
find_library(FUZZ_MBEDCRYPTO_LIB mbedcrypto REQUIRED)
fitgate_fuzz_target(NAME fuzz_bmap
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bmap.c ${CMAKE_SOURCE_DIR}/firmware-tools/src/bmap.c
  LIBS ${FUZZ_MBEDCRYPTO_LIB})
target_include_directories(fuzz_bmap PRIVATE ${CMAKE_SOURCE_DIR}/firmware-tools/src)
