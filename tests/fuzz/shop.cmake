# Payment provider parsers (ЮKassa notifications and payments, Telegram
# updates, amounts, address lists). FUZZ mode configures only common/,
# protocol/ and drivers/, so the pure source is compiled in directly.
fitgate_fuzz_target(NAME fuzz_shop
  SOURCES ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_shop.c
          ${CMAKE_SOURCE_DIR}/cloud/shop/pay_parse.c
  LIBS PkgConfig::CJSON)
target_include_directories(fuzz_shop PRIVATE ${CMAKE_SOURCE_DIR}/cloud/shop)
