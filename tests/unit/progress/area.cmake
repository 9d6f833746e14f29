# The progress projection on the embedded bus: redelivery, replay, two consumers.
if(TARGET fitprogressapi)
  fitgate_unit_test(NAME test_progress SOURCES progress/test_progress.c
                    LIBS fitprogressapi fitprogress fitstore fitbus fitevents pthread)
endif()
