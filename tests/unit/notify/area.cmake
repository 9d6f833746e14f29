# Message channels against local provider endpoints and a real SMTP server
# (python3-aiosmtpd); the notifier over the embedded bus.
fitgate_unit_test(NAME test_notify SOURCES notify/test_notify.c
  LIBS fitnotify fitbus fitevents PkgConfig::MHD PkgConfig::CJSON)
