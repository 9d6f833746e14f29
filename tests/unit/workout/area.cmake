# Workout sessions and metrics: hand-computed known answers.
if(TARGET fitworkout)
  fitgate_unit_test(NAME test_workout SOURCES workout/test_workout.c LIBS fitworkout)
endif()
