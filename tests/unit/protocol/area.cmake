# libfitproto unit tests.
fitgate_unit_test(NAME test_reading SOURCES protocol/test_reading.c LIBS fitproto)
fitgate_unit_test(NAME test_msg SOURCES protocol/test_msg.c LIBS fitproto)
fitgate_unit_test(NAME test_topic SOURCES protocol/test_topic.c LIBS fitproto)
