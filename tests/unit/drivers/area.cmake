# libfitdrivers unit tests, plus the fitgate-decode CLI.
fitgate_unit_test(NAME test_gatt SOURCES drivers/test_gatt.c LIBS fitdrivers fitproto
                  PkgConfig::CJSON)

add_test(NAME fitgate_decode_hr
         COMMAND fitgate-decode --device sim-0001 --ts 1732530000123 2a37 1E5532002100)
set_tests_properties(fitgate_decode_hr PROPERTIES PASS_REGULAR_EXPRESSION
  "^\\{\"dev\":\"sim-0001\",\"kind\":\"heart_rate\",\"ts\":1732530000123,\"v\":\\{\"hr\":85,\"rr\":\\[0\\.0322265625\\],\"energy\":50000,\"contact\":1\\}\\}\n$")
add_test(NAME fitgate_decode_battery COMMAND fitgate-decode --ts 1732530000123 0x2A19 64)
set_tests_properties(fitgate_decode_battery PROPERTIES PASS_REGULAR_EXPRESSION
  "\"kind\":\"battery\".*\"v\":\\{\"battery\":100\\}")
# Errors: a message naming the reason and exit status exactly 1 (not a crash).
function(decode_error_test name uuid hex regex)
  add_test(NAME ${name} COMMAND sh -c "\"$0\" \"$1\" \"$2\"; echo \"exit=$?\""
           $<TARGET_FILE:fitgate-decode> ${uuid} ${hex})
  set_tests_properties(${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}.*exit=1")
endfunction()
decode_error_test(fitgate_decode_bad_length 2a37 170101 "2a37: cannot decode 3 byte\\(s\\): length")
decode_error_test(fitgate_decode_bad_range 2a19 65 "cannot decode 1 byte\\(s\\): range")
decode_error_test(fitgate_decode_bad_hex 2a37 1G "bad payload hex")
decode_error_test(fitgate_decode_bad_uuid 2a3777 00 "bad uuid16")
decode_error_test(fitgate_decode_unknown_uuid 2a5b 00 "2a5b: cannot decode 1 byte\\(s\\): unknown")
add_test(NAME fitgate_decode_help COMMAND fitgate-decode --help)
set_tests_properties(fitgate_decode_help PROPERTIES PASS_REGULAR_EXPRESSION "usage: fitgate-decode")
