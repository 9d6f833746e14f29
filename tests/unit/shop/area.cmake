# The shop core (state machine, idempotency, stock, payments) with a fake
# provider, and the provider parsers.
if(TARGET fitshop)
  fitgate_unit_test(NAME test_shop SOURCES shop/test_shop.c
    LIBS fitshop fitevents fitcommon PkgConfig::SQLITE PkgConfig::CJSON)
endif()
