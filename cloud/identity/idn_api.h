/* idn_api.h - helpers shared by the identity module's HTTP handlers. */
#ifndef FITGATE_IDN_API_H
#define FITGATE_IDN_API_H

#include "idn_int.h"
#include "tg_initdata.h"

#define JWT_COOKIE_MAX 4400

/* String member of a JSON object, or NULL. */
const char *idn_jstr(const cJSON *body, const char *key);
/* Create a session for user_id and answer it (token, refresh_token, user). */
int idn_reply_session(idn *d, api_req *rq, int64_t user_id, const char *method, int64_t mfa_ms,
                      int created);
/* Check Telegram init data and burn it (one-time). 0 ok, else answered. */
int idn_take_initdata(idn *d, api_req *rq, const char *data, tg_auth *auth);
/* The pending sign-in of an mfa_token (consume: use it up): 0 and
 * *user_id, the first factor's method and whether the user was just
 * registered; else answered (400 malformed, 401 mfa_token_invalid). */
int idn_pending_user(idn *d, api_req *rq, const char *tok, int consume, int64_t *user_id,
                     char method[16], int *created);
/* Send an "auth" one-time code by method and answer. */
int idn_reply_oob_send(idn *d, api_req *rq, int64_t uid, const char *method);
/* Step-up for a sensitive action: 0 when the session proved a second factor
 * within IDN_STEP_UP_MS, or when body carries a valid {"code", "method"}
 * (then the session is marked); otherwise answered (403
 * second_factor_required, 401 code_invalid, 429, 423). */
int idn_require_step_up(idn *d, api_req *rq, const cJSON *body);

#endif
