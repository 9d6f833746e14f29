# Identity module: accounts, tokens, refresh families, 2FA, throttling, group commit.
fitgate_unit_test(NAME test_identity SOURCES identity/test_identity.c LIBS fitidentity PkgConfig::CJSON)
