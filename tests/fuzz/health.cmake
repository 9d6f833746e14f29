# Health family decoders (fitdrivers/health.h): first input byte picks the
# characteristic, the rest is the payload. Links the test-only encoders.
fitgate_fuzz_target(NAME fuzz_health
                    SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_health.c
                            ${CMAKE_SOURCE_DIR}/tests/unit/drivers_health/encode_health.c
                    LIBS fitdrivers fitproto)
target_include_directories(fuzz_health PRIVATE ${CMAKE_SOURCE_DIR}/tests/unit/drivers_health)
