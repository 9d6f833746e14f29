# Turn the achievements catalogue (JSON) into a C string at build time, so
# the catalogue is data and the binary needs no file at run time.
file(READ ${IN} hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "/* generated from achievements.json by embed.cmake */\n"
  "const char achieve_catalogue_json[] = {${bytes} 0x00};\n")
