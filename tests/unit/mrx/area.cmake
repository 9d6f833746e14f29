# mrx: the ack-after-commit MQTT v5 subscriber (edge/src/mrx.c). The test
# starts its own mosquitto (/usr/sbin/mosquitto) on a free loopback port.
fitgate_unit_test(NAME test_mrx
  SOURCES mrx/test_mrx.c ${CMAKE_SOURCE_DIR}/edge/src/mrx.c ${CMAKE_SOURCE_DIR}/edge/src/mrx_parse.c
  LIBS fitcommon PkgConfig::MOSQ)
target_include_directories(test_mrx PRIVATE ${CMAKE_SOURCE_DIR}/edge/src)
