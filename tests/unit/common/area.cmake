fitgate_unit_test(NAME test_cfg SOURCES common/test_cfg.c LIBS fitcommon)
