/* fitproto/status.h - status codes returned by libfitproto and libfitdrivers.
 *
 * Every function that can fail returns an fp_status; FP_OK is zero so callers
 * can write `if (rc) ...`. fp_status_str() gives a stable, lower-case name
 * used in log lines and counter labels.
 */
#ifndef FITPROTO_STATUS_H
#define FITPROTO_STATUS_H

typedef enum fp_status {
    FP_OK = 0,
    FP_ERR_SYNTAX,    /* not JSON / not the expected shape */
    FP_ERR_VERSION,   /* unknown protocol version */
    FP_ERR_MISSING,   /* a required field is absent */
    FP_ERR_TYPE,      /* a field has the wrong JSON type */
    FP_ERR_RANGE,     /* a value is outside its documented range */
    FP_ERR_LIMIT,     /* too many items / too long / output buffer too small */
    FP_ERR_UNKNOWN,   /* unknown kind, quantity or field where none is allowed */
    FP_ERR_DUPLICATE, /* a field or non-repeatable quantity appears twice */
    FP_ERR_LENGTH,    /* device payload length does not match its flags */
    FP_ERR_RESERVED,  /* device payload uses a reserved value */
    FP_ERR_NOMEM,     /* allocation failed */
    FP_STATUS__END
} fp_status;

/* "ok", "syntax", "version", ...; never NULL. */
const char *fp_status_str(fp_status s);

#endif
