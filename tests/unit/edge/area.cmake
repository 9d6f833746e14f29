fitgate_unit_test(NAME test_spool SOURCES edge/test_spool.c ${CMAKE_SOURCE_DIR}/edge/src/spool.c
                  LIBS fitcommon PkgConfig::SQLITE)
target_include_directories(test_spool PRIVATE ${CMAKE_SOURCE_DIR}/edge/src)

fitgate_unit_test(NAME test_derive SOURCES edge/test_derive.c ${CMAKE_SOURCE_DIR}/edge/src/derive.c
                  LIBS fitdrivers fitproto)
target_include_directories(test_derive PRIVATE ${CMAKE_SOURCE_DIR}/edge/src)
