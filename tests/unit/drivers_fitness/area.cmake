# Fitness decoders of libfitdrivers: RSC, CSC, cycling power, FTMS.
fitgate_unit_test(NAME test_fitness_cycling SOURCES drivers_fitness/test_cycling.c
                  LIBS fitdrivers fitproto PkgConfig::CJSON)
fitgate_unit_test(NAME test_fitness_ftms SOURCES drivers_fitness/test_ftms.c
                  LIBS fitdrivers fitproto PkgConfig::CJSON)
