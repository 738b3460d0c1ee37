/* libFuzzer harness: the values of a checkpoint's metadata (fm_ckpt_state_read), on
 * top of a real checkpoint of the smallest model (made once, at start-up, with the
 * library itself).
 *
 * Input: two bytes of presence bits, one per key, little-endian (a clear bit renames
 * the key so that it is missing; absent bytes keep every key), then 8 bytes per key,
 * little-endian, for the 13 keys in the order of fm_ckpt_state; a short input leaves
 * the rest as saved. The patched image gets a
 * fresh CRC and is parsed, then read. What must hold for every input:
 *   - the reader returns FM_OK or FM_ERR_FORMAT with a NUL-terminated message;
 *   - FM_OK only for a state within the rules: every key present, each hyper-parameter
 *     passing fm_train_opt_check, step = epoch (data_count / batch) + cursor with
 *     cursor < data_count / batch (the resume loop indexes its shuffle with it);
 *   - the model then loads, and one training step with the restored hyper-parameters
 *     runs to FM_OK or FM_ERR_NUMERIC (never a crash, never UB). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "checkpoint.h"
#include "flow.h"
#include "io.h"
#include "fuzz.h"

#define ARENA_BYTES ((size_t)16 << 20)
#define NKEYS 13

static const char *const keys[NKEYS] = {"step", "seed", "epoch", "cursor", "batch",
                                        "data_count", "lr", "beta1", "beta2", "eps",
                                        "weight_decay", "ema_decay", "label_drop"};
static uint8_t *g_mem, *g_image, *g_copy;
static size_t g_len;
static fm_model *g_model;
static fm_config g_cfg = {.in_channels = 1, .image = 2, .base_channels = 4, .levels = 1,
                          .channel_mult = {1}, .res_blocks = 1, .time_dim = 4, .heads = 1,
                          .groups = 2, .num_classes = 2};

/* The checkpoint every input patches: the smallest conditional model, saved once. */
static void make_checkpoint(void)
{
    fm_backend be;
    fm_backend_config bc = {.name = "ref", .mem = g_mem, .mem_bytes = ARENA_BYTES};
    CHECK(fm_backend_open(&be, &bc) == FM_OK);
    CHECK(fm_model_create(g_model, &be, &g_cfg, FM_MODE_TRAIN, 2) == FM_OK);
    CHECK(fm_model_init(g_model, 7) == FM_OK);
    fm_ckpt_state st = {.step = 3, .epoch = 1, .cursor = 1, .batch = 2, .data_count = 4,
                        .opts = fm_train_defaults()};
    st.opts.seed = 7;
    static uint8_t scratch_mem[1 << 20] __attribute__((aligned(64)));
    fm_arena scratch;
    CHECK(fm_arena_init(&scratch, scratch_mem, sizeof scratch_mem, 0) == FM_OK);
    char path[64], err[512];
    snprintf(path, sizeof path, "/tmp/fuzz_ckpt_meta.%ld.fmw", (long)getpid());
    CHECK(fm_model_save(g_model, path, FM_WEIGHTS_KIND_CHECKPOINT, &st, &scratch, err,
                       sizeof err) == FM_OK);
    fm_backend_close(&be);
    FILE *f = fopen(path, "rb");
    CHECK(f && fseek(f, 0, SEEK_END) == 0);
    g_len = (size_t)ftell(f);
    rewind(f);
    g_image = malloc(g_len);
    g_copy = aligned_alloc(64, (g_len + 63) & ~(size_t)63);
    CHECK(g_image && g_copy && fread(g_image, 1, g_len, f) == g_len);
    fclose(f);
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_mem = aligned_alloc(64, ARENA_BYTES);
    g_model = malloc(sizeof *g_model);
    CHECK(g_mem && g_model);
    make_checkpoint();
    return 0;
}

/* Apply the input to the metadata of g_copy (a fresh copy of g_image). */
static void patch(const fm_weights *w, const uint8_t *data, size_t size)
{
    const unsigned present = size >= 2 ? (unsigned)data[0] | (unsigned)data[1] << 8 : 0xffffu;
    for (int i = 0; i < w->nmeta; i++) {
        uint8_t *e = g_copy + (w->meta - g_copy) + (size_t)i * FM_WEIGHTS_META_BYTES;
        for (int k = 0; k < NKEYS; k++) {
            if (strncmp((const char *)e, keys[k], FM_WEIGHTS_KEY) != 0)
                continue;
            size_t at = 2 + 8 * (size_t)k;
            for (int b = 0; b < 8 && at + (size_t)b < size; b++)
                e[FM_WEIGHTS_KEY + b] = data[at + (size_t)b];
            if (!(present >> k & 1))
                e[0] = 'X'; /* "Xtep": the key is gone */
            break;
        }
    }
}

static void check_state(const fm_ckpt_state *st)
{
    char msg[128];
    const fm_train_opts *o = &st->opts;
    const float f[7] = {o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->ema_decay,
                        o->label_drop};
    for (int i = 0; i < 7; i++)
        CHECK(isfinite(f[i]) && fm_train_opt_check(keys[6 + i], (double)f[i], msg, sizeof msg) ==
                                    FM_OK);
    CHECK(st->batch >= 1 && st->batch <= FM_MAX_BATCH && st->data_count >= st->batch);
    uint64_t spe = st->data_count / st->batch;
    CHECK(st->cursor < spe && st->epoch <= st->step && st->epoch * spe + st->cursor == st->step);
    CHECK(st->step <= (uint64_t)FM_MAX_STEPS && st->opts.seed <= (uint64_t)FM_MAX_SEED);
}

/* Load the model and take one step with the restored hyper-parameters. */
static void run_step(const fm_weights *w, const fm_ckpt_state *st)
{
    fm_backend be;
    fm_backend_config bc = {.name = "ref", .mem = g_mem, .mem_bytes = ARENA_BYTES};
    CHECK(fm_backend_open(&be, &bc) == FM_OK);
    char err[512];
    fm_ckpt_state got;
    CHECK(fm_model_create_from_weights(g_model, &be, w, FM_MODE_TRAIN, 2, 0, &got, NULL, err,
                                      sizeof err) == FM_OK);
    fm_train_opts o = st->opts;
    fm_tensor x = fm_tensor_4d(FM_F32, 2, 1, 2, 2);
    int32_t y[2] = {0, 1};
    float loss;
    CHECK(fm_tensor_alloc(&be, &x) == FM_OK && fm_noise(&be, &x, 1, 0) == FM_OK);
    fm_status s = fm_train_step(g_model, &o, &x, y, st->step + 1 < (1u << 30) ? st->step + 1 : 1,
                                &loss);
    CHECK(s == FM_OK || s == FM_ERR_NUMERIC);
    fm_backend_close(&be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memcpy(g_copy, g_image, g_len);
    fm_weights w;
    char err[512];
    CHECK(fm_weights_parse(g_copy, g_len, &w, err, sizeof err) == FM_OK);
    patch(&w, data, size);
    uint32_t crc = (uint32_t)crc32(0L, g_copy, (uInt)(g_len - 4));
    for (int i = 0; i < 4; i++)
        g_copy[g_len - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    if (fm_weights_parse(g_copy, g_len, &w, err, sizeof err) != FM_OK)
        return 0; /* a renamed key can collide with another: a duplicate is refused */
    fm_ckpt_state st;
    err[0] = 0;
    fm_status s = fm_ckpt_state_read(&w, &st, err, sizeof err);
    CHECK(memchr(err, 0, sizeof err) != NULL);
    CHECK(s == FM_OK || (s == FM_ERR_FORMAT && err[0]));
    if (s == FM_OK) {
        check_state(&st);
        run_step(&w, &st);
    }
    return 0;
}
