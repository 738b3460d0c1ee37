/* A model config from the flags --arch, --preset, --config and --classes (fmrt
 * train, plan, convert), and its plan. Touches no file: the fuzz harness builds
 * what any flags describe. */
#ifndef FMRT_CLI_CONFIG_H
#define FMRT_CLI_CONFIG_H

#include "config.h"
#include "model.h"

/* --arch NAME (a velocity model's architecture), --preset NAME, --config key=value (repeatable), --classes K. */
#define CLI_MAX_SETS 32
typedef struct cli_config_opts {
    const char *arch; /* NULL: the preset's */
    const char *preset;
    const char *sets[CLI_MAX_SETS];
    int nsets;
    int classes, have_classes;
    int given; /* any of the three appeared */
} cli_config_opts;
/* argv[*i] is one of the config flags: consume it (and its value), return 0;
 * not one of them: -1; a usage error: 2 (printed). */
int cli_config_option(const char *cmd, cli_config_opts *o, int argc, char **argv, int *i);
/* The velocity models' architectures, "unet, dit": what --arch takes. */
const char *cli_velocity_archs(void);
/* The velocity models' presets (tiny, mnist, dit-tiny, dit, ...) into names, at most
 * max of them; returns how many. */
int cli_velocity_presets(const char **names, int max);
/* Preset (default: the architecture's first, mnist for the U-Net), then the --config settings, then
 * --classes; validated. */
int cli_build_config(const cli_config_opts *o, fm_config *cfg);
/* o's --config fields (and a velocity model's --classes) applied to cfg, then validated:
 * any architecture.
 * One error line naming the field. */
int cli_config_sets(const cli_config_opts *o, fm_config *cfg);
/* fm_model_plan_live with its scratch model and tracker on the heap; prints the error. */
int cli_plan(const fm_config *cfg, fm_mode mode, int batch, fm_plan *p);

#endif
