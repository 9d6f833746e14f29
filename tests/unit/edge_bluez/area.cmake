# Pure parts of the BLE source and the command channel: command parsing,
# reconnect backoff, BlueZ uuid/path helpers, wheel rescaling, gym session
# idle rule, the bindings file, and the cloud side's QR payload parser.
set(EB ${CMAKE_SOURCE_DIR}/edge/src)
fitgate_unit_test(NAME test_edge_cmd SOURCES edge_bluez/test_cmd.c ${EB}/cmd_parse.c
                  ${EB}/cmd_bind.c ${EB}/session.c
                  LIBS fitproto fitcommon PkgConfig::CJSON PkgConfig::SQLITE)
target_include_directories(test_edge_cmd PRIVATE ${EB})
fitgate_unit_test(NAME test_edge_bluez_policy SOURCES edge_bluez/test_policy.c
                  ${EB}/bluez_policy.c ${EB}/derive.c LIBS fitdrivers fitproto)
target_include_directories(test_edge_bluez_policy PRIVATE ${EB})
if(TARGET fitdevices)
  fitgate_unit_test(NAME test_fitdevices_qr SOURCES edge_bluez/test_qr.c LIBS fitdevices)
endif()
