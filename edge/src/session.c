/* session.c - the idle rule of gym sessions (session.h). */
#include "session.h"

bool sess_reading_active(const fp_reading *r)
{
    for (uint16_t i = 0; i < r->nvalues; i++) {
        fp_quantity q = r->values[i].q;
        if ((q == FP_Q_SPEED || q == FP_Q_CADENCE || q == FP_Q_POWER) && r->values[i].v > 0)
            return true;
    }
    return false;
}

void sess_touch(gym_session *s, const fp_reading *r, int64_t now_ms)
{
    if (s->session[0] && sess_reading_active(r) && now_ms > s->last_active_ms)
        s->last_active_ms = now_ms;
}

bool sess_expired(const gym_session *s, int64_t now_ms)
{
    return s->session[0] && now_ms - s->last_active_ms >= (int64_t)s->idle_ms;
}

int64_t sess_remaining_ms(const gym_session *s, int64_t now_ms)
{
    if (!s->session[0])
        return 0;
    int64_t left = s->last_active_ms + (int64_t)s->idle_ms - now_ms;
    return left > 0 ? left : 0;
}
