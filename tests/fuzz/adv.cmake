# libfitdrivers: advertisements (adv_decode) and bridge JSON (bridge_decode).
fitgate_fuzz_target(NAME fuzz_adv SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_adv.c
                    LIBS fitdrivers fitproto)
fitgate_fuzz_target(NAME fuzz_bridge SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_bridge.c
                    LIBS fitdrivers fitproto)
