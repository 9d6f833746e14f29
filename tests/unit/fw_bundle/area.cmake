# Signed update bundles (firmware-tools/src/bundle*.c, fwsig.c): CMocka tests
# that also run the fitgate-fw binary and the openssl CLI (throwaway PKI).
if(TARGET fitfw)
  fitgate_unit_test(NAME test_fw_bundle SOURCES fw_bundle/test_fw_bundle.c LIBS fitfw)
  target_compile_definitions(test_fw_bundle PRIVATE FITFW_BIN="$<TARGET_FILE:fitgate-fw>")
  add_dependencies(test_fw_bundle fitgate-fw)
endif()
