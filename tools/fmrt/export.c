/* fmrt export IN OUT [--raw]: the sampling weights of a weights or checkpoint file,
 * and nothing else: the canonical tensors only (the EMA weights, or the raw ones
 * with --raw), no raw copy, no optimizer state. This is what gets shipped: half the
 * size of a trainer's weights file (a tiny model fits in 4 MiB as float32). The
 * step and seed of the run are kept as provenance. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_config.h"
#include "cli_mem.h"
#include "commands.h"

int cmd_export(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int use_raw = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: fmrt export IN OUT [--raw]\n\n"
                   "Writes the sampling weights of IN (the EMA weights, or the raw ones with\n"
                   "--raw, recorded as the line weights=raw of its text.data) to OUT, without\n"
                   "raw copies or optimizer state.\n");
            return 0;
        } else if (strcmp(argv[i], "--raw") == 0)
            use_raw = 1;
        else if (argv[i][0] == '-')
            return cli_usage_error("export", "unknown option '%s'", argv[i]);
        else if (!in)
            in = argv[i];
        else if (!out)
            out = argv[i];
        else
            return cli_usage_error("export", "unexpected argument '%s'", argv[i]);
    }
    if (!in || !out)
        return cli_usage_error("export", "needs IN and OUT");
    fm_weights w;
    size_t file_bytes;
    cli_mem wmem = {0}, dmem = {0}, smem = {0};
    cli_files outs = {0}, ins = {0};
    char found[CLI_WEIGHTS_PATH];
    /* IN resolved first (cli_find_input): OUT must not be the shipped file it names. */
    if (cli_find_input(in, found, sizeof found, &in))
        return 1;
    cli_files_add(&outs, "OUT", out);
    cli_files_add(&ins, "IN", in);
    if (cli_check_outputs(&outs, &ins) || cli_load_weights(in, &w, &file_bytes, &wmem))
        return 1;
    int rc = 1;
    if (cli_check_weights(in, &w, FM_MODE_SAMPLE, use_raw))
        goto free_w;
    fm_model *m = malloc(sizeof *m);
    fm_plan plan;
    fm_backend be;
    fm_ckpt_state st;
    char err[FM_ERR_LEN];
    if (!m) {
        cli_error("out of memory");
        goto free_w;
    }
    if (cli_plan(&w.cfg, FM_MODE_SAMPLE, 1, &plan) ||
        cli_open_backend(&be, "ref", plan.state_bytes, &dmem))
        goto free_m;
    if (fm_model_create_from_weights(m, &be, &w, FM_MODE_SAMPLE, 1, use_raw, &st, NULL, err,
                                    sizeof err) != FM_OK) {
        cli_error("%s: %s", in, err);
        goto close;
    }
    /* --raw: the recorded text says which weights are canonical ("weights=raw", which
     * fmrt info shows); without it a trained file's canonical tensors are its EMA. */
    char data[FM_TEXT_MAX + 1];
    if (use_raw) {
        int n = snprintf(data, sizeof data, "%.*s%sweights=raw", (int)st.data.n, st.data.s,
                         st.data.n ? "\n" : "");
        if (n < 0 || (size_t)n >= sizeof data) {
            cli_error("%s: its recorded text leaves no room for the line weights=raw", in);
            goto close;
        }
        st.data = (fm_text){data, (size_t)n};
    }
    fm_arena scratch;
    if (cli_host_arena(&scratch, fm_model_save_scratch_bytes(m, FM_WEIGHTS_KIND_WEIGHTS), &smem))
        goto close;
    if (fm_model_save(m, out, FM_WEIGHTS_KIND_WEIGHTS, &st, &scratch, err, sizeof err) != FM_OK) {
        cli_error("%s", err);
        goto close;
    }
    printf("wrote %s: %s weights, %lld parameters (step %llu, seed %llu)\n", out,
           use_raw ? "raw" : "EMA", (long long)m->nfloats, (unsigned long long)st.step,
           (unsigned long long)st.opts.seed);
    rc = 0;
close:
    fm_backend_close(&be);
    cli_mem_free(&smem);
    cli_mem_free(&dmem);
free_m:
    free(m);
free_w:
    cli_mem_free(&wmem);
    return rc;
}
