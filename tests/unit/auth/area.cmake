# Telegram sign-in checks and the crypto wrapper.
fitgate_unit_test(NAME test_tg_initdata SOURCES auth/test_tg_initdata.c LIBS fitauth PkgConfig::CJSON)
fitgate_unit_test(NAME test_jwt SOURCES auth/test_jwt.c LIBS fitauth PkgConfig::CJSON)
fitgate_unit_test(NAME test_auth_vectors SOURCES auth/test_auth_vectors.c LIBS fitauth PkgConfig::CJSON)
# ES256 on libcrypto (ADR 0004): RFC 7515 A.3, bad keys and signatures, threads.
fitgate_unit_test(NAME test_es256 SOURCES auth/test_es256.c LIBS fitauth)
