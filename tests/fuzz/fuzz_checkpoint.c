/* libFuzzer harness: weights and checkpoint files into a real model.
 *
 * The input's last four bytes are replaced by its CRC-32 (fuzz_weights covers
 * the checksum itself; here the point is to get past it), then: fm_weights_parse,
 * and for the sampling and the training mode fm_model_plan on the file's config,
 * fm_model_create_from_weights on the reference backend and the model-level state
 * restore (fm_ckpt_state), with fm_model_check_weights first, which must accept
 * every file the loader accepts. The config comes from the file, so the arena is
 * bounded the way the CLI bounds it: by the planner. A config whose plan fails
 * (through the library's own overflow and size checks) or needs more than
 * ARENA_BYTES is refused before anything is allocated. Models small enough run
 * one sampling step or one training step on the loaded values (NaN, Inf, huge
 * numbers included), which must not crash either. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "checkpoint.h"
#include "flow.h"
#include "fuzz.h"

#define ARENA_BYTES ((size_t)64 << 20)
#define RUN_BYTES ((size_t)1 << 20) /* models this small also run a step */

static uint8_t *g_mem;
static fm_model *g_model, *g_scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    g_mem = aligned_alloc(64, ARENA_BYTES);
    g_model = malloc(sizeof *g_model);
    g_scratch = malloc(sizeof *g_scratch);
    if (!g_mem || !g_model || !g_scratch)
        abort();
    return 0;
}

static void run_step(fm_backend *be, fm_model *m, fm_mode mode)
{
    const fm_config *c = &m->cfg;
    fm_tensor x = fm_tensor_4d(FM_F32, 1, c->in_channels, c->image, c->image);
    fm_tensor y = fm_tensor_1d(FM_I32, 1);
    if (fm_tensor_alloc(be, &x) != FM_OK || fm_tensor_alloc(be, &y) != FM_OK)
        return;
    if (fm_noise(be, &x, 1, 0) != FM_OK)
        return;
    int32_t label = 0;
    if (mode == FM_MODE_SAMPLE) {
        if (fm_upload(be, &y, &label) != FM_OK)
            return;
        fm_sample_opts o = {.steps = 1, .heun = 1, .guidance = c->num_classes > 0,
                            .cfg_scale = 2.0f};
        (void)fm_sample(m, &m->flat, &x, c->num_classes > 0 ? &y : NULL, &o);
    } else {
        fm_train_opts o = fm_train_defaults();
        float loss;
        (void)fm_train_step(m, &o, &x, c->num_classes > 0 ? &label : NULL, 1, &loss);
    }
}

static void load(const fm_weights *w, fm_mode mode, int use_raw)
{
    fm_plan plan;
    char err[768];
    /* As the CLI does: the tensors against the config's layout before any plan. */
    int checked = fm_model_check_weights(w, mode, use_raw, g_scratch, err, sizeof err) == FM_OK;
    CHECK(memchr(err, 0, sizeof err) != NULL);
    if (fm_model_plan(&w->cfg, mode, 1, g_scratch, &plan, err, sizeof err) != FM_OK) {
        CHECK(memchr(err, 0, sizeof err) != NULL);
        return;
    }
    CHECK(plan.total_bytes >= plan.state_bytes && plan.state_bytes >= plan.params_bytes);
    if (plan.total_bytes > ARENA_BYTES - 4096)
        return;
    fm_backend be;
    fm_backend_config bc = {.name = "ref", .mem = g_mem, .mem_bytes = ARENA_BYTES};
    CHECK(fm_backend_open(&be, &bc) == FM_OK);
    fm_ckpt_state st;
    int has_state = -1;
    fm_status s = fm_model_create_from_weights(g_model, &be, w, mode, 1, use_raw, &st, &has_state,
                                              err, sizeof err);
    CHECK(memchr(err, 0, sizeof err) != NULL);
    CHECK(s != FM_OK || checked); /* the check refuses nothing the loader takes */
    if (s == FM_OK) {
        /* The planner's bytes are exact: the model must fit in what it measured. */
        CHECK(be.arena.used <= plan.state_bytes);
        CHECK(has_state == (w->kind == FM_WEIGHTS_KIND_CHECKPOINT && mode == FM_MODE_TRAIN));
        uint64_t v;
        CHECK(st.step == (fm_weights_meta(w, "step", &v) ? v : 0));
        if (plan.total_bytes <= RUN_BYTES)
            run_step(&be, g_model, mode);
    }
    fm_backend_close(&be);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    uint32_t crc = (uint32_t)crc32(0L, copy, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
    fm_weights w;
    char err[512];
    if (fm_weights_parse(copy, size, &w, err, sizeof err) == FM_OK) {
        load(&w, FM_MODE_SAMPLE, 0);
        load(&w, FM_MODE_SAMPLE, 1);
        load(&w, FM_MODE_TRAIN, 0);
    }
    free(copy);
    return 0;
}
