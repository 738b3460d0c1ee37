/* Storing and parsing the fields of fm_config (config.h); nothing here knows an
 * architecture. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal integer written plainly: an optional '-' and digits only (strtol alone
 * would also take leading blanks and '+'). */
static int parse_int(const char *s, int *out)
{
    char *end;
    if (!(*s == '-' ? s[1] >= '0' && s[1] <= '9' : *s >= '0' && *s <= '9'))
        return 0;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < INT_MIN || v > INT_MAX)
        return 0;
    *out = (int)v;
    return 1;
}

/* "1,2,2": comma-separated integers, parsed in place (strtok would disturb callers
 * that are themselves tokenising); levels = their count. */
static fm_status set_mult(fm_config *c, const char *value, char *msg, size_t len)
{
    int n = 0;
    const char *p = value;
    while (*p) {
        char tok[16];
        size_t k = strcspn(p, ",");
        if (n == FM_MAX_LEVELS || k == 0 || k >= sizeof tok) {
            snprintf(msg, len, "channel_mult: '%s' is not a list of at most %d integers", value,
                     FM_MAX_LEVELS);
            return FM_ERR_ARG;
        }
        memcpy(tok, p, k);
        tok[k] = 0;
        if (!parse_int(tok, &c->channel_mult[n])) {
            snprintf(msg, len, "channel_mult: '%s' is not a list of integers", value);
            return FM_ERR_ARG;
        }
        n++;
        p += k;
        if (*p == ',' && !*++p) { /* "1,2,": a trailing comma is an empty item */
            snprintf(msg, len, "channel_mult: '%s' ends with a comma", value);
            return FM_ERR_ARG;
        }
    }
    if (n == 0) {
        snprintf(msg, len, "channel_mult: empty");
        return FM_ERR_ARG;
    }
    c->levels = n;
    return FM_OK;
}

/* Field k's place in c (the FM_CF_* order of FM_CONFIG_INTS). */
static int *field_ptr(fm_config *c, int k)
{
    int *f[] = {
#define FM_FIELD_PTR(f, slot) &c->f,
        FM_CONFIG_INTS(FM_FIELD_PTR)
#undef FM_FIELD_PTR
    };
    return k >= 0 && k < (int)(sizeof f / sizeof f[0]) ? f[k] : NULL;
}

int fm_config_field(const fm_config *c, int k)
{
    int *p = field_ptr((fm_config *)c, k);
    return p ? *p : 0;
}

const char *fm_config_field_name(int k)
{
    static const char *const names[] = {
#define FM_FIELD_NAME(f, slot) #f,
        FM_CONFIG_INTS(FM_FIELD_NAME)
#undef FM_FIELD_NAME
    };
    return k >= 0 && k < (int)(sizeof names / sizeof names[0]) ? names[k] : "channel_mult";
}

fm_status fm_config_set_field(fm_config *c, const char *key, const char *value, char *msg,
                              size_t len)
{
    if (strcmp(key, "channel_mult") == 0)
        return set_mult(c, value, msg, len);
    for (int k = 0; k < FM_CF_channel_mult; k++)
        if (strcmp(key, fm_config_field_name(k)) == 0) {
            if (!parse_int(value, field_ptr(c, k))) {
                snprintf(msg, len, "%s: '%s' is not an integer", key, value);
                return FM_ERR_ARG;
            }
            return FM_OK;
        }
    snprintf(msg, len, "unknown config field '%s'", key);
    return FM_ERR_ARG;
}

int fm_config_equal(const fm_config *a, const fm_config *b)
{
#define FM_SAME(f, slot) a->f == b->f &&
    if (!(FM_CONFIG_INTS(FM_SAME) a->arch == b->arch && a->levels == b->levels))
        return 0;
#undef FM_SAME
    for (int l = 0; l < a->levels; l++)
        if (a->channel_mult[l] != b->channel_mult[l])
            return 0;
    return 1;
}
