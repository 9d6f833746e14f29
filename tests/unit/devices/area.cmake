# fitdevices' pure parts: gateway membership codes (format, normalization).
if(TARGET fitdevices)
  fitgate_unit_test(NAME test_fitdevices_codes SOURCES devices/test_codes.c LIBS fitdevices)
endif()
