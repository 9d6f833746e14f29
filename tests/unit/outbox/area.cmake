# The transactional outbox and business event envelopes.
fitgate_unit_test(NAME test_outbox SOURCES outbox/test_outbox.c LIBS fitoutbox fitevents fitbus)
