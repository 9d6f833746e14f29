/* datetime.c - the GATT Date Time field (GATT Specification Supplement,
 * Date Time 0x2A08): year u16, month, day, hours, minutes, seconds.
 *
 * Year 0, month 0 and day 0 mean "not known"; such a date is valid but has no
 * instant, so gatt_datetime_unix() says false. The device clock carries no
 * zone: the fields are read as UTC (docs/protocol.md, device_time).
 */
#include "fitdrivers/health.h"

static bool leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in a month; with the year unknown, 29 February may exist. */
static unsigned month_days(unsigned y, unsigned m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y == 0 || leap(y)))
        return 29;
    return days[m - 1];
}

static bool datetime_valid(const gatt_datetime *dt)
{
    if (dt->year != 0 && (dt->year < 1582 || dt->year > 9999))
        return false;
    if (dt->month > 12 || dt->day > 31 || dt->hours > 23 || dt->minutes > 59 || dt->seconds > 59)
        return false;
    if (dt->month != 0 && dt->day > month_days(dt->year, dt->month))
        return false;
    return true;
}

fp_status gatt_datetime_decode(const uint8_t *buf, size_t len, gatt_datetime *out)
{
    if (buf == NULL || len != GATT_DATETIME_LEN)
        return FP_ERR_LENGTH;
    out->year = (uint16_t)(buf[0] | buf[1] << 8);
    out->month = buf[2];
    out->day = buf[3];
    out->hours = buf[4];
    out->minutes = buf[5];
    out->seconds = buf[6];
    return datetime_valid(out) ? FP_OK : FP_ERR_RANGE;
}

void gatt_datetime_encode(const gatt_datetime *dt, uint8_t *buf)
{
    buf[0] = (uint8_t)(dt->year & 0xFF);
    buf[1] = (uint8_t)(dt->year >> 8);
    buf[2] = dt->month;
    buf[3] = dt->day;
    buf[4] = dt->hours;
    buf[5] = dt->minutes;
    buf[6] = dt->seconds;
}

/* Days since 1970-01-01 of a proleptic Gregorian date: count from 1 March so
 * the leap day is the last of its "year" (the civil-from-days method). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool gatt_datetime_unix(const gatt_datetime *dt, int64_t *unix_s)
{
    if (dt->year == 0 || dt->month == 0 || dt->day == 0 || !datetime_valid(dt))
        return false;
    int64_t days = days_from_civil(dt->year, dt->month, dt->day);
    *unix_s = days * 86400 + dt->hours * 3600 + dt->minutes * 60 + dt->seconds;
    return true;
}
