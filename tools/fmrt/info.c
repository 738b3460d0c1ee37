/* fmrt info: describe a weights or checkpoint file (the parser has checked its
 * structure and CRC before anything is printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "classifier_io.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_info.h"
#include "cli_mem.h"
#include "commands.h"

#define CMD "info"

/* Metadata values that carry IEEE float bits (see fm_ckpt_state). */
static int float_key(const char *k)
{
    static const char *const keys[] = {"lr", "beta1", "beta2", "eps", "weight_decay",
                                       "ema_decay", "label_drop"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

const char *cli_escape(const char *s, char *buf, size_t len)
{
    size_t k = 0;
    if (!len)
        return buf;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        /* Printable ASCII as is; a backslash is escaped too, so that the output
         * reads back unambiguously. */
        int plain = *p >= 0x20 && *p < 0x7f && *p != '\\';
        char one[5];
        int n = snprintf(one, sizeof one, plain ? "%c" : "\\x%02x", *p);
        if (k + (size_t)n >= len)
            break;
        memcpy(buf + k, one, (size_t)n);
        k += (size_t)n;
    }
    buf[k] = '\0';
    return buf;
}

int parse_info_args(int argc, char **argv, cli_info_opts *o)
{
    o->path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CLI_HELP;
        if (argv[i][0] == '-' || o->path)
            return cli_usage_error(CMD, "unexpected argument '%s'", argv[i]);
        o->path = argv[i];
    }
    if (!o->path)
        return cli_usage_error(CMD, "WEIGHTS file missing");
    return 0;
}

/* Metadata keys come from the file: escaped, so that a crafted file cannot send
 * control sequences to the terminal. */
static void print_meta(const fm_weights *w)
{
    char esc[4 * FM_WEIGHTS_KEY];
    printf("meta        %d entries\n", w->nmeta);
    for (int i = 0; i < w->nmeta; i++) {
        const uint8_t *e = w->meta + (size_t)i * FM_WEIGHTS_META_BYTES;
        char key[FM_WEIGHTS_KEY + 1];
        memcpy(key, e, FM_WEIGHTS_KEY);
        key[FM_WEIGHTS_KEY] = 0;
        uint64_t v = 0;
        fm_weights_meta(w, key, &v);
        if (float_key(key)) {
            uint32_t u = (uint32_t)v;
            float f;
            memcpy(&f, &u, sizeof f);
            printf("  %-22s %g\n", cli_escape(key, esc, sizeof esc), (double)f);
        } else {
            printf("  %-22s %llu\n", cli_escape(key, esc, sizeof esc), (unsigned long long)v);
        }
    }
}

int cmd_info(int argc, char **argv)
{
    cli_info_opts o;
    int rc = parse_info_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        printf("usage: fmrt info WEIGHTS\n\nPrints the kind, config, tensors and metadata of "
               "a weights or checkpoint file\nafter checking its structure and CRC.\n");
        return 0;
    }
    if (rc)
        return rc;
    char installed[CLI_WEIGHTS_PATH];
    const char *path = cli_weights_path(o.path, installed, sizeof installed);
    fm_weights w;
    cli_mem mem = {0};
    size_t bytes;
    if (cli_load_weights(path, &w, &bytes, &mem))
        return 1;
    char cfg[320];
    fm_config c = w.cfg;
    /* An older classifier file holds a placeholder U-Net config (classifier_io.h): the
     * classifier's is the one that describes it. */
    if (fm_weights_is_classifier(&w))
        fm_config_preset(&c, "classifier");
    fm_config_format(&c, cfg, sizeof cfg);
    int64_t P = 0;
    fm_param *params = malloc(sizeof(fm_param) * FM_MAX_PARAMS);
    int np = params ? fm_model_layout(&w.cfg, params, FM_MAX_PARAMS, &P) : -1;
    free(params);
    int has_raw = fm_weights_has_raw(&w);
    printf("file        %s (%zu bytes)\n", path, bytes);
    printf("kind        %s\n", w.kind == FM_WEIGHTS_KIND_CHECKPOINT ? "checkpoint" : "weights");
    printf("version     %d\n", w.version);
    printf("dtype       %s\n", fm_dtype_name(w.dtype));
    printf("config      %s\n", cfg);
    if (fm_weights_is_classifier(&w)) {
        P = fm_classifier_param_count();
        printf("model       classifier (fmrt train-classifier), %d parameter tensors, %lld "
               "parameters (%.2f MiB)\n",
               FM_CLS_NPARAMS, (long long)P, (double)P * 4 / (1024.0 * 1024.0));
    } else {
        printf("model       %s, %d parameter tensors, %lld parameters (%.2f MiB)\n",
               w.cfg.num_classes ? "conditional" : "unconditional", np, (long long)P,
               (double)P * 4 / (1024.0 * 1024.0));
    }
    /* Without raw.* a file fmrt trained (it records the step) holds the EMA alone
     * (fmrt export keeps only it); the classifier has no EMA; a converted file holds
     * whatever it was given. */
    uint64_t step;
    const int trained = fm_weights_meta(&w, "step", &step);
    printf("weights     canonical = %s%s\n",
           fm_weights_is_classifier(&w) ? "as trained"
           : has_raw || trained         ? "EMA"
                                        : "as converted (no training record)",
           has_raw ? ", raw.* = raw (fmrt sample --raw)" : "");
    printf("crc         0x%08x ok\n", (unsigned)w.crc);
    printf("payload     %zu bytes\n", w.payload_bytes);
    print_meta(&w);
    /* Tensor names come from the file: escaped (see print_meta). */
    char esc[4 * FM_WEIGHTS_NAME];
    printf("tensors     %d\n", w.ntensors);
    for (int i = 0; i < w.ntensors; i++) {
        fm_wtensor t;
        if (fm_weights_tensor(&w, i, &t) != FM_OK) {
            cli_mem_free(&mem);
            return cli_error("%s: tensor %d unreadable", path, i);
        }
        char shape[64];
        int n = 0;
        for (int d = 0; d < t.ndim; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? "x%lld" : "%lld",
                          (long long)t.shape[d]);
        printf("  %-40s %-4s %s\n", cli_escape(t.name, esc, sizeof esc), fm_dtype_name(t.dtype),
               shape);
    }
    cli_mem_free(&mem);
    return 0;
}
