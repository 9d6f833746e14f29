# libfitdrivers: any GATT payload (first 2 input bytes = uuid16, little-endian).
fitgate_fuzz_target(NAME fuzz_gatt SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_gatt.c
                    LIBS fitdrivers fitproto)
