/* fmrt plan: the exact arena bytes fm_model_plan measures for training and
 * sampling, so a user can size a device before starting a run. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_config.h"
#include "cli_plan.h"
#include "commands.h"

#define CMD "plan"

static void row(const char *mode, int batch, const fm_plan *p)
{
    const double mib = 1024.0 * 1024.0;
    printf("%-7s batch %-5d params %lld (%.2f MiB)  state %zu bytes (%.2f MiB)  arena %zu bytes "
           "(%.2f MiB)\n",
           mode, batch, (long long)p->nparams, (double)p->params_bytes / mib, p->state_bytes,
           (double)p->state_bytes / mib, p->total_bytes, (double)p->total_bytes / mib);
    /* The arena's excess over the bound is memory the allocation order leaves unused. */
    printf("%-7s live  %zu bytes (%.2f MiB)  arena/live %.3f\n", mode, p->live_bytes,
           (double)p->live_bytes / mib,
           p->live_bytes ? (double)p->total_bytes / (double)p->live_bytes : 0.0);
}

int parse_plan_args(int argc, char **argv, cli_plan_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 128;
    o->sbatch = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        int r = cli_config_option(CMD, &o->cfg, argc, argv, &i);
        if (r == 0)
            continue;
        if (r > 0)
            return r;
        if (strcmp(a, "--batch") != 0 && strcmp(a, "--sample-batch") != 0)
            return cli_usage_error(CMD, "unknown option '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error(CMD, "%s needs a value", a);
        if (cli_int(a, argv[++i], 1, 1024, strcmp(a, "--batch") == 0 ? &o->batch : &o->sbatch))
            return 2;
    }
    return 0;
}

int cmd_plan(int argc, char **argv)
{
    cli_plan_opts o;
    int rc = parse_plan_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        printf("usage: fmrt plan [--arch unet|dit]\n"
               "                 [--preset mnist|tiny|cifar|cifar-small|dit|dit-tiny|dit-cifar]\n"
               "                 [--config key=value ...] [--classes K]\n"
               "                 [--batch N] [--sample-batch N]\n\n"
               "Prints parameters, persistent state and total arena bytes for training\n"
               "(batch N, default 128) and sampling (default 16 images), measured by\n"
               "running the real code on the plan backend. 'live' is the lower bound\n"
               "the same run measures: the most bytes alive at one time (parameters and\n"
               "state included), where a tensor is alive from the first to the last op\n"
               "that touches it; arena/live is what the allocation order costs above it.\n");
        return 0;
    }
    if (rc)
        return rc;
    const long long batch = o.batch, sbatch = o.sbatch;
    fm_config cfg;
    if (cli_build_config(&o.cfg, &cfg))
        return 1;
    char line[320];
    fm_config_format(&cfg, line, sizeof line);
    printf("config  %s\n", line);
    fm_plan tp, sp;
    if (cli_plan(&cfg, FM_MODE_TRAIN, (int)batch, &tp) ||
        cli_plan(&cfg, FM_MODE_SAMPLE, (int)sbatch, &sp))
        return 1;
    row("train", (int)batch, &tp);
    row("sample", (int)sbatch, &sp);
    if (sbatch == batch)
        printf("sample/train arena ratio %.3f\n", (double)sp.total_bytes / (double)tp.total_bytes);
    return 0;
}
