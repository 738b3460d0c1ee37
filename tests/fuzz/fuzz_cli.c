/* libFuzzer harness: the option parsers of the fmrt commands.
 *
 * The input is split at NUL bytes into argv strings (each its own exact-size heap
 * block, so ASan sees a read past any one of them). The first string names the
 * command (train, sample, info, plan, eval, diff, encode, decode by name; anything else picks one of
 * the first five by its first byte) and plays argv[0], as in main.c's dispatch. Then parse_<cmd>_args, which must
 * not touch a file; for train and plan the model config the flags describe is
 * built and validated (cli_build_config) and planned (fm_model_plan, the same
 * arena sizing the commands do before they allocate), so sizes that come from
 * flags reach the planner's overflow checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_config.h"
#include "cli_diff.h"
#include "cli_eval.h"
#include "cli_info.h"
#include "cli_plan.h"
#include "cli_sample.h"
#include "cli_text.h"
#include "cli_train.h"
#include "cli_vaecmd.h"
#include "fuzz.h"

#define MAX_ARGS 128

static fm_model *g_scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cli_quiet = 1;
    g_scratch = malloc(sizeof *g_scratch);
    if (!g_scratch)
        abort();
    return 0;
}

/* text: the flags ask for a text model (train --captions), as cli_text_build_config
 * takes them (a --config text_* does too). */
static void plan(const cli_config_opts *co, int text, long long train_batch, long long sample_batch)
{
    fm_config cfg;
    if (cli_text_build_config(co, text, &cfg) != 0)
        return;
    char msg[256];
    CHECK(fm_config_validate(&cfg, msg, sizeof msg) == FM_OK);
    fm_plan p;
    char err[512];
    if (train_batch > 0 &&
        fm_model_plan(&cfg, FM_MODE_TRAIN, (int)train_batch, g_scratch, &p, err, sizeof err) ==
            FM_OK)
        CHECK(p.total_bytes >= p.state_bytes && p.state_bytes >= p.params_bytes);
    if (sample_batch > 0 &&
        fm_model_plan(&cfg, FM_MODE_SAMPLE, (int)sample_batch, g_scratch, &p, err, sizeof err) ==
            FM_OK)
        CHECK(p.total_bytes >= p.params_bytes);
}

static void run(int argc, char **argv)
{
    /* diff, encode, decode by name only: the other commands keep their "% 5" slots
     * (corpus, regress) */
    static const char *const names[8] = {"train", "sample", "info", "plan",
                                         "eval",  "diff",   "encode", "decode"};
    int cmd = -1;
    for (int i = 0; i < 8; i++)
        if (strcmp(argv[0], names[i]) == 0)
            cmd = i;
    if (cmd < 0)
        cmd = (unsigned char)argv[0][0] % 5;
    int rc;
    switch (cmd) {
    case 0: {
        cli_train_opts o;
        rc = parse_train_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        if (rc == 0) {
            /* a resume takes the checkpoint's batch unless --batch is given */
            CHECK((o.resume && !o.have_batch) || (o.batch >= 1 && o.batch <= 1024));
            /* a resume may name no data: the checkpoint records it */
            CHECK(o.resume || o.data || (o.images && o.labels));
            if (!o.resume)
                plan(&o.cfg, o.captions != NULL, o.batch, 0);
        }
        break;
    }
    case 1: {
        cli_sample_opts *o = malloc(sizeof *o);
        if (!o)
            return;
        rc = parse_sample_args(argc, argv, o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        if (rc == 0) {
            CHECK(o->weights && o->n >= 1 && o->n <= 1024);
            CHECK(o->nlabels >= 0 && o->nlabels <= CLI_MAX_LIST);
            CHECK(o->nprompt >= 0 && o->nprompt <= CLI_MAX_LIST);
            CHECK(!(o->nprompt && o->prompts_file) && !((o->nprompt || o->prompts_file) &&
                                                        (o->have_cls || o->classes)));
            CHECK(o->ntraj >= 0 && o->ntraj <= CLI_MAX_LIST && (o->ntraj > 0) == (o->traj != 0));
            for (int i = 0; i < o->ntraj; i++)
                CHECK(o->traj_cols[i] >= 0 && o->traj_cols[i] <= o->steps);
        }
        free(o);
        break;
    }
    case 2: {
        cli_info_opts o;
        rc = parse_info_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        CHECK(rc != 0 || o.path);
        break;
    }
    case 4: {
        cli_eval_opts o;
        rc = parse_eval_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        CHECK(rc != 0 || ((o.samples != NULL) != (o.sanity != 0) && o.n >= 1 && o.batch >= 1));
        break;
    }
    case 5: {
        cli_diff_opts o;
        rc = parse_diff_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        CHECK(rc != 0 || (o.a && o.b && (!o.have_tol || o.tol >= 0)));
        break;
    }
    case 6: {
        cli_encode_opts o;
        rc = parse_encode_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        CHECK(rc != 0 || (o.vae && o.data && o.out && o.n >= 0 && o.batch >= 1 && o.batch <= 1024));
        break;
    }
    case 7: {
        cli_decode_opts o;
        rc = parse_decode_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        CHECK(rc != 0 || (o.vae && o.latents && o.out && o.n >= 1 && o.n <= 1024 && o.cols >= 1));
        break;
    }
    default: {
        cli_plan_opts o;
        rc = parse_plan_args(argc, argv, &o);
        CHECK(rc == 0 || rc == CLI_HELP || rc == 2);
        if (rc == 0)
            plan(&o.cfg, 0, o.batch, o.sbatch);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    size_t start = 0;
    /* Each NUL ends a string; text after the last NUL is one more string. */
    for (size_t i = 0; i <= size && argc < MAX_ARGS; i++) {
        if (i < size && data[i] != 0)
            continue;
        if (i == size && i == start && argc > 0)
            break;
        size_t len = i - start;
        argv[argc] = malloc(len + 1);
        if (!argv[argc])
            break;
        memcpy(argv[argc], data + start, len);
        argv[argc][len] = 0;
        argc++;
        start = i + 1;
    }
    argv[argc] = NULL;
    if (argc > 0)
        run(argc, argv);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return 0;
}
