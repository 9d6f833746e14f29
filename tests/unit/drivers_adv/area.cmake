# Advertisement decoders and BLE-to-MQTT bridge JSON (libfitdrivers).
fitgate_unit_test(NAME test_adv SOURCES drivers_adv/test_adv.c LIBS fitdrivers fitproto)
fitgate_unit_test(NAME test_bridge SOURCES drivers_adv/test_bridge.c LIBS fitdrivers fitproto)
