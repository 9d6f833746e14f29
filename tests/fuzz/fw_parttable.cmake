# fuzz_parttable: the MBR/GPT parser of `fitgate-fw provision`
# (firmware-tools/src/parttable.c, pure). Compiled in directly: firmware-tools/
# is not configured in fuzz mode.
fitgate_fuzz_target(NAME fuzz_parttable
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_parttable.c
          ${CMAKE_SOURCE_DIR}/firmware-tools/src/parttable.c)
target_include_directories(fuzz_parttable PRIVATE ${CMAKE_SOURCE_DIR}/firmware-tools/src)
