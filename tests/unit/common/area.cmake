fitgate_unit_test(NAME test_cfg SOURCES common/test_cfg.c LIBS fitcommon)
fitgate_unit_test(NAME test_io SOURCES common/test_io.c LIBS fitcommon)
