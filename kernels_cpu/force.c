/* FMRT_CPU_FORCE: the words that force one of the cpu backend's paths (cpu.h lists
 * them), parsed in this one place. Tests run the conformance rows under each, so that
 * every path is checked whatever CPU, core count and cache the machine has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static const struct {
    const char *word;
    fm_cpu_conv_path conv;
} conv_words[] = {
    {"direct", FM_CPU_CONV_DIRECT},       {"winograd", FM_CPU_CONV_WINOGRAD},
    {"winograd2", FM_CPU_CONV_WINOGRAD2}, {"winograd4", FM_CPU_CONV_WINOGRAD4},
    {"im2col", FM_CPU_CONV_IM2COL},       {"ref", FM_CPU_CONV_REF},
};
#define NCONV (sizeof conv_words / sizeof conv_words[0])

/* One word of the list, w[0, n). */
static int parse_word(const char *w, size_t n, fm_cpu_force *f, char *err, size_t errlen)
{
    for (size_t i = 0; i < NCONV; i++)
        if (strlen(conv_words[i].word) == n && memcmp(w, conv_words[i].word, n) == 0) {
            f->conv = conv_words[i].conv;
            return 1;
        }
    if (n == 13 && memcmp(w, "bf16-portable", n) == 0) {
        f->bf16_portable = 1;
        return 1;
    }
    if (n > 6 && memcmp(w, "block=", 6) == 0) {
        char num[24] = {0}, *end;
        if (n - 6 < sizeof num) {
            memcpy(num, w + 6, n - 6);
            long v = strtol(num, &end, 10);
            if (*end == '\0' && v >= 16 && v <= (1 << 20)) {
                f->block = v;
                return 1;
            }
        }
        snprintf(err, errlen, "FMRT_CPU_FORCE: block=%.*s is not a count of 16 to 1048576",
                 (int)(n - 6 < 32 ? n - 6 : 32), w + 6);
        return 0;
    }
    snprintf(err, errlen,
             "FMRT_CPU_FORCE: unknown word '%.*s' (direct, winograd, winograd2, winograd4, "
             "im2col, ref, block=N, bf16-portable)",
             (int)(n < 32 ? n : 32), w);
    return 0;
}

int fm_cpu_force_parse(const char *s, fm_cpu_force *f, char *err, size_t errlen)
{
    *f = (fm_cpu_force){FM_CPU_CONV_AUTO, FM_CPU_BLOCK, 0};
    if (!s)
        return 1;
    while (*s) {
        size_t n = strcspn(s, ",");
        if (n > 0 && !parse_word(s, n, f, err, errlen))
            return 0;
        s += n + (s[n] == ',');
    }
    return 1;
}

/* The forced words as FMRT_CPU_FORCE would say them ("im2col,block=64"). */
void fm_cpu_force_describe(const fm_cpu_force *f, char *buf, size_t len)
{
    const char *conv = "", *bf = f->bf16_portable ? "bf16-portable" : "";
    for (size_t i = 0; i < NCONV; i++)
        if (conv_words[i].conv == f->conv)
            conv = conv_words[i].word;
    char block[32] = "";
    if (f->block != FM_CPU_BLOCK)
        snprintf(block, sizeof block, "block=%lld", (long long)f->block);
    const char *w[3] = {conv, block, bf};
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < 3; i++)
        if (w[i][0] && n < len)
            n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? "," : "", w[i]);
}
