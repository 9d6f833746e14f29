# The legacy shop adapter against the dev seed (cloud/legacy/devdb/seed.sql).
if(TARGET fitlegacy)
  fitgate_unit_test(NAME test_legacy SOURCES legacy/test_legacy.c
    LIBS fitlegacy fitauth fitcommon PkgConfig::SQLITE)
endif()
