/* session.h - gym machine (FTMS) sessions: the idle rule (pure).
 *
 * A session binds a shared machine to the user who scanned its QR sticker.
 * It ends on an explicit stop or when the machine has been idle for
 * idle_ms: no reading that shows someone moving (speed, cadence or power
 * above zero). A treadmill keeps notifying at 0 km/h when nobody is on it,
 * so "a notification arrived" is not activity.
 */
#ifndef FITGATE_SESSION_H
#define FITGATE_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "fitproto/reading.h"

typedef struct gym_session {
    char session[65];       /* "" = no session (a plain user binding) */
    uint32_t idle_ms;       /* idle timeout */
    int64_t last_active_ms; /* monotonic ms of the last sign of use (or the start) */
} gym_session;

/* Does this reading show someone using the machine? */
bool sess_reading_active(const fp_reading *r);
/* Note a reading of the session's machine at now_ms. */
void sess_touch(gym_session *s, const fp_reading *r, int64_t now_ms);
/* Is the session over for inactivity at now_ms? (false without a session) */
bool sess_expired(const gym_session *s, int64_t now_ms);
/* Milliseconds until it would expire (0 when expired or no session). */
int64_t sess_remaining_ms(const gym_session *s, int64_t now_ms);

#endif
