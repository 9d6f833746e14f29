# Workout sessions and metrics: hand-computed known answers.
fitgate_unit_test(NAME test_workout SOURCES workout/test_workout.c LIBS fitworkout)
