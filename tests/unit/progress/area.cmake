# The progress projection on the embedded bus: redelivery, replay, two consumers.
if(TARGET fitprogress)
  fitgate_unit_test(NAME test_progress SOURCES progress/test_progress.c
                    LIBS fitprogress fitstore fitbus fitevents pthread)
endif()
