fitgate_unit_test(NAME test_hrmodel SOURCES sim/test_hrmodel.c LIBS fitsim_model fitdrivers m)
fitgate_unit_test(NAME test_sim_devices SOURCES sim/test_devices.c LIBS fitsim_model fitdrivers fitproto m)
