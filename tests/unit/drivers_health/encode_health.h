/* encode_health.h - encoders for the health characteristics, used only by
 * tests: they write exactly the layout the flags in the struct announce, so a
 * decode of their output must give the same struct back. Each returns the
 * bytes written, or 0 when cap is too small. */
#ifndef TESTS_ENCODE_HEALTH_H
#define TESTS_ENCODE_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "fitdrivers/health.h"

size_t enc_wss(const wss_measurement *m, uint8_t *buf, size_t cap);
size_t enc_bcs(const bcs_measurement *m, uint8_t *buf, size_t cap);
size_t enc_plx_spot(const plx_spot_check *m, uint8_t *buf, size_t cap);
size_t enc_plx_cont(const plx_continuous *m, uint8_t *buf, size_t cap);
size_t enc_bps(const bps_measurement *m, uint8_t *buf, size_t cap);
size_t enc_hts(const hts_measurement *m, uint8_t *buf, size_t cap);

#endif
