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
# fitgate-decode as a process: exact stdout, one line on stderr, exact exit
# status (0 decoded, 1 rejected, 2 usage). The wrapper prints "exit=N" last.
function(decode_cli_test name regex)
  add_test(NAME ${name} COMMAND sh -c "\"$0\" \"$@\" 2>&1; echo \"exit=$?\""
           $<TARGET_FILE:fitgate-decode> ${ARGN})
  set_tests_properties(${name} PROPERTIES PASS_REGULAR_EXPRESSION "${regex}")
endfunction()
set(TS --ts 1732530000123)
set(R "\\{\"dev\":")

# --char (and the positional form above): one notification.
decode_cli_test(fitgate_decode_char_hr
  "^${R}\"cli\",\"kind\":\"heart_rate\",\"ts\":1732530000123,\"v\":\\{\"hr\":85,\"rr\":\\[0\\.0322265625\\],\"energy\":50000,\"contact\":1\\}\\}\nexit=0\n$"
  ${TS} --char 2a37 1E:55:32:00:21:00)
decode_cli_test(fitgate_decode_bad_length "^fitgate-decode: rejected: length\nexit=1\n$"
  --char 2a37 170101)
decode_cli_test(fitgate_decode_bad_range "^fitgate-decode: rejected: range\nexit=1\n$" 2a19 65)
decode_cli_test(fitgate_decode_unknown_uuid "^fitgate-decode: rejected: unknown\nexit=1\n$"
  --char 2a00 00)
decode_cli_test(fitgate_decode_bad_hex "bad payload hex.*\nexit=2\n$" 2a37 1G)
decode_cli_test(fitgate_decode_bad_uuid "bad uuid16.*\nexit=2\n$" --char 2a3777 00)

# --adv: Mi Band heart rate (manufacturer data first) and steps, two lines.
decode_cli_test(fitgate_decode_adv_miband
  "^${R}\"band-1\",\"kind\":\"heart_rate\",\"ts\":1732530000123,\"v\":\\{\"hr\":72\\}\\}\n${R}\"band-1\",\"kind\":\"activity\",\"ts\":1732530000123,\"v\":\\{\"steps\":1234\\}\\}\nexit=0\n$"
  ${TS} --device band-1 --adv --name "Mi Smart Band 6"
  --mfg 0157=000000480000000000000000000000000000c4a5dfe0a1b2 --svc fee0=d2040000)
# The company id inside the hex, as bridges print manufacturer data.
decode_cli_test(fitgate_decode_adv_mfg_raw "\"v\":\\{\"hr\":60,\"contact\":1\\}\\}\nexit=0\n$"
  ${TS} --adv --mfg 6b0072067f443700000033003c)
decode_cli_test(fitgate_decode_adv_scale
  "^${R}\"cli\",\"kind\":\"weight\",\"ts\":1732530000123,\"v\":\\{\"weight\":73,\"device_time\":1732530030\\}\\}\nexit=0\n$"
  ${TS} --adv --name MI_SCALE --svc 181d=220839e8070b190a141e)
decode_cli_test(fitgate_decode_adv_body
  "\"kind\":\"body_composition\".*\"v\":\\{\"weight\":73\\.2,\"impedance\":503,\"device_time\":1732530030\\}\\}\nexit=0\n$"
  ${TS} --adv --name MIBFS --svc 0x181B=0226e8070b190a141ef7013039)
# Recognised but nothing yet (scale settling): no line, exit 0.
decode_cli_test(fitgate_decode_adv_nothing_yet "^exit=0\n$"
  ${TS} --adv --name MI_SCALE --svc 181d=020839e8070b190a141e)
decode_cli_test(fitgate_decode_adv_unknown "^fitgate-decode: rejected: unknown\nexit=1\n$"
  --adv --mfg 004c=0215)
decode_cli_test(fitgate_decode_adv_truncated "^fitgate-decode: rejected: length\nexit=1\n$"
  --adv --name MIBFS --svc 181b=0226e8070b190a141ef70130)
decode_cli_test(fitgate_decode_adv_bad_mfg "bad company id.*\nexit=2\n$" --adv --mfg 10000=00)
decode_cli_test(fitgate_decode_adv_empty "at least one --mfg or --svc.*\nexit=2\n$" --adv)

# --bridge: device id is the MAC of the topic, normalised.
decode_cli_test(fitgate_decode_bridge
  "^${R}\"C4:A5:DF:E0:A1:B2\",\"kind\":\"body_composition\",\"ts\":1732530000123,\"v\":\\{\"weight\":73\\.2,\"impedance\":503\\}\\}\nexit=0\n$"
  ${TS} --bridge home/TheengsGateway/BTtoMQTT/c4a5dfe0a1b2
  "{\"id\":\"C4:A5:DF:E0:A1:B2\",\"name\":\"MIBFS\",\"unit\":\"kg\",\"weight\":73.2,\"impedance\":503}")
decode_cli_test(fitgate_decode_bridge_syntax "^fitgate-decode: rejected: syntax\nexit=1\n$"
  --bridge home/gw/BTtoMQTT/C4A5DFE0A1B2 "[1]")
decode_cli_test(fitgate_decode_bridge_type "^fitgate-decode: rejected: type\nexit=1\n$"
  --bridge home/gw/BTtoMQTT/C4A5DFE0A1B2 "{\"hr\":\"72\"}")
decode_cli_test(fitgate_decode_bridge_mac "^fitgate-decode: rejected: range\nexit=1\n$"
  --bridge home/gw/BTtoMQTT/C4A5DFE0A1 "{\"hr\":72}")
decode_cli_test(fitgate_decode_bridge_device "MAC in the topic.*\nexit=2\n$"
  --device x --bridge home/gw/BTtoMQTT/C4A5DFE0A1B2 "{\"hr\":72}")

# Usage errors: exit 2, never 1.
decode_cli_test(fitgate_decode_usage_none "wants UUID HEX.*\nexit=2\n$")
decode_cli_test(fitgate_decode_usage_option "unknown option.*\nexit=2\n$" --frobnicate)
decode_cli_test(fitgate_decode_usage_two_modes "choose one of.*\nexit=2\n$" --char --adv)
decode_cli_test(fitgate_decode_usage_mfg_no_adv "go with --adv.*\nexit=2\n$"
  --mfg 0157=00 2a19 64)
decode_cli_test(fitgate_decode_usage_ts "bad --ts.*\nexit=2\n$" --ts soon 2a19 64)
decode_cli_test(fitgate_decode_usage_device "bad --device.*\nexit=2\n$" --device ../x 2a19 64)
decode_cli_test(fitgate_decode_help "^usage: fitgate-decode.*\nexit=0\n$" --help)
