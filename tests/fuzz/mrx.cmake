# fuzz_mrx: mrx_parse() over arbitrary bytes, and the mrx client fed by a
# loopback fake broker (see tests/fuzz/fuzz_mrx.c). edge/ is not configured in
# fuzz mode, so mrx.c (and the log.c it needs) are compiled in directly;
# linking fitcommon would pull metrics.c, which clang rejects today.
fitgate_fuzz_target(NAME fuzz_mrx
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_mrx.c ${CMAKE_SOURCE_DIR}/edge/src/mrx.c ${CMAKE_SOURCE_DIR}/edge/src/mrx_parse.c
          ${CMAKE_SOURCE_DIR}/common/src/log.c)
target_include_directories(fuzz_mrx PRIVATE ${CMAKE_SOURCE_DIR}/edge/src
                           ${CMAKE_SOURCE_DIR}/common/include)
