# fitgate-fw flash / verify / bmap: the bmap parser and writer, the block
# device policy (fake sysfs trees), and process tests that run fitgate-fw on
# sparse, compressed and corrupted images, against bmaptool (bmap-tools) and
# against loop devices (needs root and /dev/loop-control).
fitgate_unit_test(NAME test_fw_flash SOURCES fw_flash/test_fw_flash.c LIBS fitfw)
target_compile_definitions(test_fw_flash PRIVATE FITGATE_FW_BIN="$<TARGET_FILE:fitgate-fw>")
add_dependencies(test_fw_flash fitgate-fw)
