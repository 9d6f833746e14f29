# Health family decoders (fitdrivers/health.h, fitdrivers/ieee11073.h).
fitgate_unit_test(NAME test_ieee11073 SOURCES drivers_health/test_ieee11073.c
                  LIBS fitdrivers fitproto PkgConfig::CJSON)
fitgate_unit_test(NAME test_health SOURCES drivers_health/test_health.c
                  drivers_health/encode_health.c LIBS fitdrivers fitproto PkgConfig::CJSON)
