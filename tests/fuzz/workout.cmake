# Workout sessions and metrics (cloud/workout, pure C): arbitrary samples in,
# finite and consistent metrics out. Compiled in directly (FUZZ mode builds
# only common/, protocol/ and drivers/).
fitgate_fuzz_target(NAME fuzz_workout
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_workout.c
          ${CMAKE_SOURCE_DIR}/cloud/workout/workout.c
  LIBS fitproto m)
target_include_directories(fuzz_workout PRIVATE ${CMAKE_SOURCE_DIR}/cloud/workout)
