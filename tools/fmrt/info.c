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
#include "cli_text.h"
#include "cli_vaecmd.h"
#include "commands.h"

#define CMD "info"

/* Metadata values that carry IEEE float bits (see fm_ckpt_state). */
static int float_key(const char *k)
{
    static const char *const keys[] = {"lr",           "beta1",     "beta2",      "eps",
                                       "weight_decay", "ema_decay", "label_drop", "latent_scale"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(k, keys[i]) == 0)
            return 1;
    return 0;
}

int parse_info_args(int argc, char **argv, cli_info_opts *o)
{
    o->path = NULL;
    o->tensors = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CLI_HELP;
        if (strcmp(argv[i], "--tensors") == 0) {
            o->tensors = 1;
            continue;
        }
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
        if (strcmp(key, "epoch_loss") == 0) { /* a double's bits */
            double d;
            memcpy(&d, &v, sizeof d);
            printf("  %-22s %g\n", key, d);
        } else if (strcmp(key, "vae_crc") == 0) { /* a CRC reads as one: hex */
            printf("  %-22s 0x%08llx\n", key, (unsigned long long)v);
        } else if (float_key(key)) {
            uint32_t u = (uint32_t)v;
            float f;
            memcpy(&f, &u, sizeof f);
            printf("  %-22s %g\n", cli_escape(key, esc, sizeof esc), (double)f);
        } else {
            printf("  %-22s %llu\n", cli_escape(key, esc, sizeof esc), (unsigned long long)v);
        }
    }
}

/* Tensor names come from the file: escaped (see print_meta). */
static int print_tensors(const fm_weights *w, const char *path)
{
    char esc[4 * FM_WEIGHTS_NAME];
    for (int i = 0; i < w->ntensors; i++) {
        fm_wtensor t;
        if (fm_weights_tensor(w, i, &t) != FM_OK)
            return cli_error("%s: tensor %d unreadable", path, i);
        char shape[64];
        int n = 0;
        for (int d = 0; d < t.ndim; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? "x%lld" : "%lld",
                          (long long)t.shape[d]);
        printf("  %-40s %-4s %s\n", cli_escape(t.name, esc, sizeof esc), fm_dtype_name(t.dtype),
               shape);
    }
    return 0;
}

/* The tensors in one line: how many of each kind (canonical, raw.*, the rest: a
 * checkpoint's optimizer state) and their bytes; the list itself with --tensors. */
static int print_tensor_counts(const fm_weights *w, const char *path, int list)
{
    int raw = 0, other = 0, text = 0;
    size_t bytes = 0;
    const size_t np = strlen(FM_RAW_PREFIX);
    for (int i = 0; i < w->ntensors; i++) {
        fm_wtensor t;
        if (fm_weights_tensor(w, i, &t) != FM_OK)
            return cli_error("%s: tensor %d unreadable", path, i);
        bytes += t.bytes;
        raw += strncmp(t.name, FM_RAW_PREFIX, np) == 0;
        other += strncmp(t.name, "adam_", 5) == 0;
        /* recorded text (u8 text.data, ...), not a text encoder's text.* parameters */
        text += strncmp(t.name, "text.", 5) == 0 && t.dtype == FM_U8;
    }
    printf("tensors     %d: %d canonical, %d raw.*, %d optimizer state, %d text; %zu bytes "
           "(%.2f MiB)%s\n",
           w->ntensors, w->ntensors - raw - other - text, raw, other, text, bytes,
           (double)bytes / (1024.0 * 1024.0), list ? "" : " (--tensors lists them)");
    return list ? print_tensors(w, path) : 0;
}

/* What the run recorded: its data and its classes' names (text.*, checkpoint.h),
 * escaped like every string from the file; the names on one line, comma-separated. */
/* Whether fmrt export --raw wrote the file: a line "weights=raw" in text.data. */
static int exported_raw(const fm_weights *w)
{
    fm_ckpt_state st;
    char err[256];
    if (fm_ckpt_state_read(w, &st, err, sizeof err) != FM_OK)
        return 0;
    for (size_t i = 0; i + 11 <= st.data.n; i++)
        if ((i == 0 || st.data.s[i - 1] == '\n') && memcmp(st.data.s + i, "weights=raw", 11) == 0 &&
            (i + 11 == st.data.n || st.data.s[i + 11] == '\n'))
            return 1;
    return 0;
}

static void print_texts(const fm_weights *w)
{
    fm_ckpt_state st;
    char err[256], raw[FM_TEXT_MAX + 1], esc[4 * FM_TEXT_MAX + 1];
    if (fm_ckpt_state_read(w, &st, err, sizeof err) != FM_OK)
        return;
    const fm_text *x[2] = {&st.data, &st.classes};
    const char *label[2] = {"data        ", "classes     "};
    for (int k = 0; k < 2; k++) {
        if (!x[k]->n)
            continue;
        snprintf(raw, sizeof raw, "%.*s", (int)x[k]->n, x[k]->s);
        for (char *c = raw; (c = strchr(c, '\n')) != NULL;)
            *c = k ? ',' : ' ';
        printf("%s%s\n", label[k], cli_escape(raw, esc, sizeof esc));
    }
}

/* A classifier's line: its shape, K and whether it names its classes (the names
 * themselves are print_texts' "classes" line). */
static void print_classifier(const fm_weights *w, const fm_config *c)
{
    fm_ckpt_state st;
    char err[256];
    const int named = fm_ckpt_state_read(w, &st, err, sizeof err) == FM_OK && st.classes.n;
    const int64_t P = fm_classifier_param_count(c);
    printf("model       classifier (fmrt train-classifier): %dx%dx%d images, %d classes%s, %d "
           "parameter tensors, %lld parameters (%.2f MiB)\n",
           c->in_channels, c->image, c->image, fm_classifier_classes(c),
           named ? " (named below)" : " (unnamed)", FM_CLS_NPARAMS, (long long)P,
           (double)P * 4 / (1024.0 * 1024.0));
}

/* A text model's encoder (docs/spec/text.md): tokenizer, sizes, parameters, frozen or
 * trained, and the captions and vocabulary its run recorded (escaped: from the file). */
static void print_text(const fm_config *c, const fm_ckpt_state *st, int encoder)
{
    char v[FM_TEXT_MAX], esc[4 * FM_TEXT_MAX + 1], from[FM_TEXT_MAX];
    const int frozen = st && cli_text_value(&st->data, "text_frozen", v, sizeof v) &&
                       strcmp(v, "1") == 0;
    const int64_t P = cli_text_encoder_params(c);
    printf("text        tokenizer %s (%d ids), context %d, width %d, depth %d, heads %d, MLP "
           "width %d; encoder %lld parameters (%.2f MiB)%s",
           cli_tok_name(c->text_tokenizer), c->text_vocab, c->text_ctx, c->text_width,
           c->text_depth, c->text_heads, c->text_ff, (long long)P,
           (double)P * 4 / (1024.0 * 1024.0), encoder ? "" : frozen ? ", frozen" : ", trained");
    if (frozen && cli_text_value(&st->data, "text_from", from, sizeof from))
        printf(" (copied from %s)", cli_escape(from, esc, sizeof esc));
    printf("\n");
    if (encoder) { /* no captions: a converted encoder, or one fmrt sample cannot run */
    } else if (st && cli_text_value(&st->data, "captions", v, sizeof v)) {
        char crc[16];
        printf("captions    %s", cli_escape(v, esc, sizeof esc));
        if (cli_text_value(&st->data, "captions_crc", crc, sizeof crc))
            printf(" (CRC %s)", cli_escape(crc, esc, sizeof esc));
        printf("\n");
    } else {
        printf("captions    none recorded\n");
    }
    if (c->text_tokenizer == FM_TOK_CLIP_BPE)
        printf("vocab       %s\n", st && cli_text_value(&st->data, "vocab", v, sizeof v)
                                        ? cli_escape(v, esc, sizeof esc)
                                        : "none recorded (fmrt sample --vocab FILE)");
}

/* The line of the network: an autoencoder's shapes and latent scale, else a velocity
 * model's conditioning (and, for a latent model, the autoencoder it needs). */
static void print_model(const fm_weights *w, int np, int64_t P)
{
    fm_ckpt_state st;
    char err[256], rec[4200];
    const fm_config *c = &w->cfg;
    const int have = fm_ckpt_state_read(w, &st, err, sizeof err) == FM_OK;
    if (fm_vae_is(c)) {
        int64_t z[4];
        fm_vae_latent_shape(c, 1, z);
        printf("model       autoencoder (fmrt train-vae): %dx%dx%d images <-> %lldx%lldx%lld "
               "latents (f = %d), %d parameter tensors, %lld parameters (%.2f MiB)\n",
               c->in_channels, c->image, c->image, (long long)z[1], (long long)z[2],
               (long long)z[3], c->image / (int)z[2], np, (long long)P,
               (double)P * 4 / (1024.0 * 1024.0));
        if (have && st.latent_scale > 0)
            printf("latent      scale k = %.9g (fmrt encode writes k mu; samples decode z / k)\n",
                   (double)st.latent_scale);
        else
            printf("latent      no scale recorded (a checkpoint: train-vae measures it for the "
                   "weights file)\n");
        return;
    }
    const int encoder = !fm_arch_by_id(c->arch)->velocity; /* a text encoder alone (clip) */
    printf("model       %s, %d parameter tensors, %lld parameters (%.2f MiB)\n",
           encoder          ? "text encoder (fmrt train --text FILE copies it, frozen)"
           : c->text_depth  ? "text-conditioned"
           : c->num_classes ? "conditional"
                            : "unconditional",
           np, (long long)P, (double)P * 4 / (1024.0 * 1024.0));
    if (c->text_depth)
        print_text(c, have ? &st : NULL, encoder);
    if (have && st.vae_crc)
        printf("latent      latent model: needs autoencoder %s\n",
               cli_vae_recorded(&st, rec, sizeof rec));
}

/* What the file is and records: kind, config, parameters, canonical weights, CRC,
 * metadata. */
static void print_summary(const fm_weights *w, const char *path, size_t bytes)
{
    char cfg[320], err[256];
    fm_config c = w->cfg;
    const int cls = fm_weights_is_classifier(w);
    /* A classifier's config as it describes the network: an older file's placeholder
     * U-Net config is the preset's (classifier_io.h), and K is shown as it counts
     * (num_classes 0 of an older file is 10). */
    if (cls && fm_classifier_file_config(w, &c, err, sizeof err) != FM_OK)
        fm_config_preset(&c, "classifier");
    if (cls)
        c.num_classes = fm_classifier_classes(&c);
    fm_config_format(&c, cfg, sizeof cfg);
    int64_t P = 0;
    fm_param *params = malloc(sizeof(fm_param) * FM_MAX_PARAMS);
    int np = params ? fm_model_layout(&w->cfg, params, FM_MAX_PARAMS, &P) : -1;
    free(params);
    int has_raw = fm_weights_has_raw(w);
    printf("file        %s (%zu bytes)\n", path, bytes);
    printf("kind        %s\n", w->kind == FM_WEIGHTS_KIND_CHECKPOINT ? "checkpoint" : "weights");
    printf("version     %d\n", w->version);
    printf("dtype       %s\n", fm_dtype_name(w->dtype));
    printf("config      %s\n", cfg);
    if (cls) {
        print_classifier(w, &c);
    } else {
        print_model(w, np, P);
    }
    /* Without raw.* a file fmrt trained (it records the step) holds the EMA alone
     * (fmrt export keeps only it); the classifier has no EMA; a converted file holds
     * whatever it was given. */
    uint64_t step;
    const int trained = fm_weights_meta(w, "step", &step);
    printf("weights     canonical = %s%s\n",
           cls                  ? "as trained"
           : exported_raw(w)    ? "raw (fmrt export --raw)"
           : has_raw || trained ? "EMA"
                                : "as converted (no training record)",
           has_raw ? ", raw.* = raw (fmrt sample --raw)" : "");
    print_texts(w);
    printf("crc         0x%08x ok\n", (unsigned)w->crc);
    printf("payload     %zu bytes\n", w->payload_bytes);
    print_meta(w);
}

int cmd_info(int argc, char **argv)
{
    cli_info_opts o;
    int rc = parse_info_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        printf("usage: fmrt info WEIGHTS [--tensors]\n\n"
               "Describes a weights or checkpoint file after checking its structure and\n"
               "CRC: kind, config, parameters, which weights are canonical, the metadata\n"
               "it records (step, seed, ...) and its tensors' counts and bytes.\n"
               "  --tensors  also list every tensor: name, dtype, shape\n"
               "A text model (fmrt train --captions): its tokenizer, context, width, depth,\n"
               "heads, MLP width and encoder parameters, frozen (--text F) or trained, and\n"
               "the captions (path, CRC) and CLIP vocabulary its run recorded.\n"
               "A bare name missing here is a shipped model (share/fmrt, then the source\n"
               "tree's model/): fmrt info tiny-cond.fmw.\n");
        return 0;
    }
    if (rc)
        return rc;
    char found[CLI_WEIGHTS_PATH];
    const char *path;
    fm_weights w;
    cli_mem mem = {0};
    size_t bytes;
    if (cli_find_input(o.path, found, sizeof found, &path) ||
        cli_load_weights(path, &w, &bytes, &mem))
        return 1;
    print_summary(&w, path, bytes);
    rc = print_tensor_counts(&w, path, o.tensors);
    cli_mem_free(&mem);
    return rc;
}
