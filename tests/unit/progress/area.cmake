# The progress projection on the embedded bus: redelivery, replay, two
# consumers, analytics; and its endpoints through the real router.
if(TARGET fitprogressapi)
  fitgate_unit_test(NAME test_progress SOURCES progress/test_progress.c
                    LIBS fitprogressapi fitprogress fitstore fitbus fitevents pthread)
  fitgate_unit_test(NAME test_progress_api SOURCES progress/test_progress_api.c
                    LIBS fitprogressapi fitprogress fitapi fitstore fitevents PkgConfig::CURL)
endif()
