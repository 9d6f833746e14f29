fitgate_unit_test(NAME test_hrmodel SOURCES sim/test_hrmodel.c LIBS fitsim_model fitdrivers m)
