# libfitdrivers fitness family: RSC, CSC (+ derivation), cycling power, FTMS.
fitgate_fuzz_target(NAME fuzz_fitness SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_fitness.c
                    LIBS fitdrivers fitproto)
