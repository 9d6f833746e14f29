# The update op of the command channel (cmd_parse) and the updater's pure helper.
set(EU ${CMAKE_SOURCE_DIR}/edge/src)
fitgate_unit_test(NAME test_edge_update SOURCES edge_update/test_update.c ${EU}/cmd_parse.c
                  ${EU}/update_agent.c
                  LIBS fitmqloop fitproto fitcommon PkgConfig::CJSON PkgConfig::SYSTEMD
                       PkgConfig::MOSQ)
target_include_directories(test_edge_update PRIVATE ${EU})
