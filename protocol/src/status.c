/* status.c - names for fp_status codes. */
#include <stddef.h>

#include "fitproto/status.h"

/* Indexed by fp_status. These strings appear in log lines and counter labels:
 * never rename one, only add. */
static const char *const status_names[FP_STATUS__END] = {
    [FP_OK] = "ok",
    [FP_ERR_SYNTAX] = "syntax",
    [FP_ERR_VERSION] = "version",
    [FP_ERR_MISSING] = "missing",
    [FP_ERR_TYPE] = "type",
    [FP_ERR_RANGE] = "range",
    [FP_ERR_LIMIT] = "limit",
    [FP_ERR_UNKNOWN] = "unknown",
    [FP_ERR_DUPLICATE] = "duplicate",
    [FP_ERR_LENGTH] = "length",
    [FP_ERR_RESERVED] = "reserved",
    [FP_ERR_NOMEM] = "nomem",
};

const char *fp_status_str(fp_status s)
{
    if ((unsigned)s >= FP_STATUS__END || status_names[s] == NULL)
        return "invalid";
    return status_names[s];
}
