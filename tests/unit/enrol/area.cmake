# Gateway enrolment: token lifecycle, CSR checks, issued certificates.
fitgate_unit_test(NAME test_enrol SOURCES enrol/test_enrol.c LIBS fitenrol)
