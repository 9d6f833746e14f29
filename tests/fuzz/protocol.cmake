# libfitproto codec: batch, ack (+ topics), state, single reading.
foreach(t fuzz_batch fuzz_ack fuzz_state fuzz_reading)
  fitgate_fuzz_target(NAME ${t} SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/${t}.c LIBS fitproto)
endforeach()
