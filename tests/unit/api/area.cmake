# The HTTP API end to end over a real socket: sign-in, sessions, history, live
# stream, dev launch, static files.
fitgate_unit_test(NAME test_api SOURCES api/test_api.c
  LIBS fitapi fitauth fitstore fitproto fitcommon PkgConfig::CJSON)
