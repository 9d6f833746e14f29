# The gateway's command parser (edge/src/cmd_parse.c): JSON from the cloud.
fitgate_fuzz_target(NAME fuzz_cmd
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_cmd.c ${CMAKE_SOURCE_DIR}/edge/src/cmd_parse.c
  LIBS fitproto PkgConfig::CJSON)
target_include_directories(fuzz_cmd PRIVATE ${CMAKE_SOURCE_DIR}/edge/src)
