# Telegram sign-in checks and the crypto wrapper.
fitgate_unit_test(NAME test_tg_initdata SOURCES auth/test_tg_initdata.c LIBS fitauth PkgConfig::CJSON)
