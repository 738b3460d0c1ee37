#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unet.h" /* fm_unet_count and the tables a config must fit */

fm_status fm_config_preset(fm_config *c, const char *name)
{
    fm_config mnist = {.in_channels = 1, .image = 28, .base_channels = 64, .levels = 3,
                       .channel_mult = {1, 2, 2}, .res_blocks = 1, .time_dim = 128, .heads = 4,
                       .groups = 8, .num_classes = 0};
    /* docs/spec/dit.md's two presets. */
    fm_config dit = {.arch = FM_ARCH_DIT, .in_channels = 1, .image = 28, .patch = 2,
                     .hidden = 192, .depth = 6, .heads = 6, .freq_dim = 256, .mlp_ratio = 4};
    if (strcmp(name, "mnist") == 0) {
        *c = mnist;
    } else if (strcmp(name, "tiny") == 0) {
        *c = mnist;
        c->base_channels = 32;
        c->time_dim = 64;
    } else if (strcmp(name, "dit") == 0) {
        *c = dit;
    } else if (strcmp(name, "dit-tiny") == 0) {
        *c = dit;
        c->patch = 4;
        c->hidden = 128;
        c->depth = 4;
        c->heads = 4;
        c->freq_dim = 128;
    } else {
        return FM_ERR_ARG;
    }
    return FM_OK;
}

static int ok_range(int v, int lo, int hi) { return v >= lo && v <= hi; }

#define BAD(...) return (snprintf(msg, len, __VA_ARGS__), FM_ERR_ARG)
enum { FM_FAM_ALL, FM_FAM_UNET, FM_FAM_DIT };

/* The U-Net's fixed tables; run last, on a config whose every field is in range. */
static fm_status check_tables(const fm_config *c, char *msg, size_t len)
{
    int nm, np;
    fm_unet_count(c, &nm, &np); /* the layout's own walk, counting only */
    if (nm > FM_MAX_MODULES)
        BAD("res_blocks %d with %d levels needs %d modules, more than the %d this build "
            "supports (FM_MAX_MODULES)", c->res_blocks, c->levels, nm, FM_MAX_MODULES);
    if (np > FM_MAX_PARAMS)
        BAD("res_blocks %d with %d levels needs %d parameter tensors, more than the %d this "
            "build supports (FM_MAX_PARAMS)", c->res_blocks, c->levels, np, FM_MAX_PARAMS);
    return FM_OK;
}

/* Range first, then divisibility, so that each message names what is wrong. */
static fm_status check_sizes(const fm_config *c, char *msg, size_t len)
{
    if (!ok_range(c->image, 1, 4096))
        BAD("image %d out of range 1..4096", c->image);
    if (c->image % (1 << (c->levels - 1)) != 0)
        BAD("image %d must be divisible by 2^(levels-1) = %d", c->image, 1 << (c->levels - 1));
    if (!ok_range(c->groups, 1, 1024))
        BAD("groups %d out of range 1..1024", c->groups);
    if (!ok_range(c->base_channels, 4, 4096))
        BAD("base_channels %d out of range 4..4096", c->base_channels);
    if (c->base_channels % c->groups != 0)
        BAD("base_channels %d must be a multiple of groups %d", c->base_channels, c->groups);
    if (c->base_channels % 2)
        BAD("base_channels %d must be even (sinusoidal embedding)", c->base_channels);
    return FM_OK;
}

static fm_status validate_unet(const fm_config *c, char *msg, size_t len)
{
    if (!ok_range(c->levels, 1, FM_MAX_LEVELS))
        BAD("channel_mult has %d levels, expected 1..%d", c->levels, FM_MAX_LEVELS);
    if (check_sizes(c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    for (int l = 0; l < c->levels; l++)
        if (!ok_range(c->channel_mult[l], 1, 64))
            BAD("channel_mult[%d] = %d out of range 1..64", l, c->channel_mult[l]);
    if (!ok_range(c->res_blocks, 1, FM_MAX_RES_BLOCKS))
        BAD("res_blocks %d out of range 1..%d", c->res_blocks, FM_MAX_RES_BLOCKS);
    if (!ok_range(c->time_dim, 1, 65536))
        BAD("time_dim %d out of range 1..65536", c->time_dim);
    int mid = c->base_channels * c->channel_mult[c->levels - 1];
    if (!ok_range(c->heads, 1, mid))
        BAD("heads %d out of range 1..%d (the middle width)", c->heads, mid);
    if (mid % c->heads != 0)
        BAD("heads %d must divide the middle width %d", c->heads, mid);
    return check_tables(c, msg, len);
}

/* docs/spec/dit.md: D divisible by 4 (position table) and by heads; F even, >= 4 (the
 * sinusoidal embedding's halves); the image a whole number of patches. */
static fm_status validate_dit(const fm_config *c, char *msg, size_t len)
{
    if (!ok_range(c->image, 1, 4096))
        BAD("image %d out of range 1..4096", c->image);
    if (!ok_range(c->patch, 1, c->image) || c->image % c->patch != 0)
        BAD("patch %d must divide image %d", c->patch, c->image);
    if (!ok_range(c->hidden, 4, 16384) || c->hidden % 4 != 0)
        BAD("hidden %d must be a multiple of 4 in 4..16384", c->hidden);
    if (!ok_range(c->heads, 1, c->hidden) || c->hidden % c->heads != 0)
        BAD("heads %d must divide hidden %d", c->heads, c->hidden);
    if (!ok_range(c->depth, 1, FM_MAX_DEPTH))
        BAD("depth %d out of range 1..%d", c->depth, FM_MAX_DEPTH);
    if (!ok_range(c->mlp_ratio, 1, 64))
        BAD("mlp_ratio %d out of range 1..64", c->mlp_ratio);
    if (!ok_range(c->freq_dim, 4, 65536) || c->freq_dim % 2 != 0)
        BAD("freq_dim %d must be even, in 4..65536", c->freq_dim);
    return FM_OK;
}

/* A field of the other family set: e.g. base_channels in a DiT config. */
static fm_status check_family(const fm_config *c, char *msg, size_t len)
{
    const int unet = c->arch == FM_ARCH_UNET;
#define FM_FAMILY(f, slot, fam)                                                                    \
    if (c->f != 0 && ((unet && FM_FAM_##fam == FM_FAM_DIT) || (!unet && FM_FAM_##fam == FM_FAM_UNET))) \
        BAD("%s does not apply to arch=%s", #f, unet ? "unet" : "dit");
    FM_CONFIG_INTS(FM_FAMILY)
#undef FM_FAMILY
    if (!unet && c->levels != 0)
        BAD("channel_mult does not apply to arch=dit");
    return FM_OK;
}

fm_status fm_config_validate(const fm_config *c, char *msg, size_t len)
{
    if (c->arch != FM_ARCH_UNET && c->arch != FM_ARCH_DIT)
        BAD("arch %d unknown (0 unet, 1 dit)", c->arch);
    if (check_family(c, msg, len) != FM_OK)
        return FM_ERR_ARG;
    if (!ok_range(c->in_channels, 1, 16))
        BAD("in_channels %d out of range 1..16", c->in_channels);
    if (!ok_range(c->num_classes, 0, 65535))
        BAD("num_classes %d out of range 0..65535", c->num_classes);
    return c->arch == FM_ARCH_DIT ? validate_dit(c, msg, len) : validate_unet(c, msg, len);
}

#undef BAD

static int parse_int(const char *s, int *out)
{
    char *end;
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
        if (*p == ',')
            p++;
    }
    if (n == 0) {
        snprintf(msg, len, "channel_mult: empty");
        return FM_ERR_ARG;
    }
    c->levels = n;
    return FM_OK;
}

fm_status fm_config_set(fm_config *c, const char *key, const char *value, char *msg, size_t len)
{
    struct {
        const char *key;
        int *field;
    } ints[] = {
#define FM_FIELD(f, slot, fam) {#f, &c->f},
        FM_CONFIG_INTS(FM_FIELD)
#undef FM_FIELD
    };
    if (strcmp(key, "arch") == 0) {
        if (strcmp(value, "unet") != 0 && strcmp(value, "dit") != 0) {
            snprintf(msg, len, "arch: '%s' is not unet or dit", value);
            return FM_ERR_ARG;
        }
        /* Another family: its default preset (every field of the old one would be
         * refused), so "arch=dit" first, then the DiT's own fields. */
        int arch = strcmp(value, "dit") == 0 ? FM_ARCH_DIT : FM_ARCH_UNET;
        if (arch != c->arch)
            fm_config_preset(c, arch == FM_ARCH_DIT ? "dit" : "mnist");
        return FM_OK;
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (strcmp(key, ints[i].key) == 0) {
            if (!parse_int(value, ints[i].field)) {
                snprintf(msg, len, "%s: '%s' is not an integer", key, value);
                return FM_ERR_ARG;
            }
            return FM_OK;
        }
    if (strcmp(key, "channel_mult") == 0)
        return set_mult(c, value, msg, len);
    snprintf(msg, len, "unknown config field '%s'", key);
    return FM_ERR_ARG;
}

int fm_config_format(const fm_config *c, char *buf, size_t len)
{
    if (c->arch == FM_ARCH_DIT)
        return snprintf(buf, len,
                        "arch=dit in_channels=%d image=%d patch=%d hidden=%d depth=%d heads=%d "
                        "freq_dim=%d mlp_ratio=%d num_classes=%d",
                        c->in_channels, c->image, c->patch, c->hidden, c->depth, c->heads,
                        c->freq_dim, c->mlp_ratio, c->num_classes);
    char mult[48] = "";
    size_t k = 0;
    for (int l = 0; l < c->levels && k < sizeof mult; l++)
        k += (size_t)snprintf(mult + k, sizeof mult - k, l ? ",%d" : "%d", c->channel_mult[l]);
    return snprintf(buf, len,
                    "in_channels=%d image=%d base_channels=%d channel_mult=%s res_blocks=%d "
                    "time_dim=%d heads=%d groups=%d num_classes=%d",
                    c->in_channels, c->image, c->base_channels, mult, c->res_blocks, c->time_dim,
                    c->heads, c->groups, c->num_classes);
}

int fm_config_equal(const fm_config *a, const fm_config *b)
{
#define FM_SAME(f, slot, fam) a->f == b->f &&
    if (!(FM_CONFIG_INTS(FM_SAME) a->arch == b->arch && a->levels == b->levels))
        return 0;
#undef FM_SAME
    for (int l = 0; l < a->levels; l++)
        if (a->channel_mult[l] != b->channel_mult[l])
            return 0;
    return 1;
}
