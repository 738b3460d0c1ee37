/* fmrt sample: draw images from a weights (or checkpoint) file into a PNG grid,
 * optionally with the trajectory of each sample and the raw u8 pixels. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_mem.h"
#include "cli_preview.h"
#include "cli_sample.h"
#include "cli_text.h"
#include "cli_vaecmd.h"
#include "commands.h"
#include "flow.h"
#include "image.h"
#include "io.h"
#include "size.h"

#define CMD "sample"
#define MAX_LIST CLI_MAX_LIST
#define MAX_NAMES 257 /* class names a grid shows (labels are u8), and a NULL */

static void usage(FILE *f)
{
    fprintf(f, "usage: fmrt sample WEIGHTS [options]\n\n"
               "Integrates noise to images with the EMA weights (the canonical tensors).\n"
               "A bare WEIGHTS name missing here is a shipped model: the installed\n"
               "share/fmrt, then the source tree's model/ (fmrt sample tiny-cond.fmw).\n"
               "A latent model (fmrt train --vae) samples latents and decodes them with its\n"
               "autoencoder: the file it recorded (or one of that name beside the model),\n"
               "checked by the CRC the model holds.\n\n"
               "  --backend NAME       ref, cpu, opencl, cuda or auto (default auto: the fastest\n"
               "                       compiled in that opens: fmrt backends lists them)\n"
               "  --precision P        f32 (default) or bf16: on cpu, the 3x3 convolutions'\n"
               "                       GEMMs on bfloat16 operands with float32 sums (AVX512-\n"
               "                       BF16; float32 where the CPU lacks it)\n"
               "  --n N                images (default 16; conditional models: a row per class)\n"
               "  --steps N            integration steps (default 50)\n"
               "  --vae F              a latent model's autoencoder, instead of the recorded one\n"
               "  --sampler euler|heun (default euler)\n"
               "  --seed S             noise: Philox(S), stream 0 (default 0)\n"
               "  --class K            conditional models: every image of class K (a number,\n"
               "                       or a name the model records: --class sneaker)\n"
               "  --classes 0,1,2      conditional models: labels cycling through the list\n"
               "                       (numbers or names);\n"
               "                       all (the default): a row of --cols images per class\n"
               "                       (--n then defaults to classes x cols); none: the\n"
               "                       \"no label\" row, no guidance\n"
               "  --cfg W              guidance scale with labels or prompts (default 2.0)\n"
               "  --prompt TEXT        text models: a row of --cols images of TEXT, guided\n"
               "                       against the empty prompt (repeatable: a row each;\n"
               "                       --n then defaults to prompts x cols); a prompt longer\n"
               "                       than the model's context is cut (said)\n"
               "  --prompts FILE       text models: one prompt per line, a row each\n"
               "  --vocab F            a CLIP-BPE model's vocabulary, instead of the recorded\n"
               "                       one (bpe_simple_vocab_16e6.txt[.gz] or merges.txt)\n"
               "                       A text model without --prompt samples the empty prompt\n"
               "                       (unconditional, no guidance)\n"
               "  --raw                use the raw weights (raw.* tensors) instead of the EMA\n"
               "  --out F              PNG grid (default samples.png); --out and --traj\n"
               "                       must end in .png (any case) or have no extension\n"
               "  --cols N             grid columns (default 8)\n"
               "  --traj F             PNG: one row per sample, one column per --traj-steps entry\n"
               "  --traj-steps LIST    steps shown in --traj (default 0,N/4,N/2,N; 0 = the noise)\n"
               "  --raw-out F          the N x H x W u8 pixels, no header\n"
               "  --f32-out F          the N x C x H x W float32 samples before rounding to\n"
               "                       pixels (little-endian, no header): for comparisons;\n"
               "                       a latent model's: the decoded images\n");
}

typedef cli_sample_opts opts;

static int all_digits(const char *s) { return *s && strspn(s, "0123456789") == strlen(s); }

/* The flags against each other once all are read, and the --classes and
 * --traj-steps lists expanded. */
static int check_sample_args(opts *o)
{
    if (!o->weights)
        return cli_usage_error(CMD, "WEIGHTS file missing");
    if (strcmp(o->sampler, "euler") != 0 && strcmp(o->sampler, "heun") != 0)
        return cli_usage_error(CMD, "--sampler must be euler or heun, not '%s'", o->sampler);
    if (o->have_cls && o->classes)
        return cli_usage_error(CMD, "give --class or --classes, not both");
    if ((o->nprompt || o->prompts_file) && (o->have_cls || o->classes))
        return cli_usage_error(CMD, "--%s with --%s: prompts are a text model's, classes a class "
                                    "model's",
                               o->nprompt ? "prompt" : "prompts", o->have_cls ? "class" : "classes");
    if (o->nprompt && o->prompts_file)
        return cli_usage_error(CMD, "give --prompt or --prompts, not both");
    if (o->have_cfg && o->classes && strcmp(o->classes, "none") == 0)
        return cli_usage_error(CMD, "--cfg does not apply to --classes none (no guidance)");
    if (o->traj_list && !o->traj)
        return cli_usage_error(CMD, "--traj-steps needs --traj FILE");
    if (cli_check_ext("--out", o->out, ".png", "sample writes PNG images") ||
        (o->traj && cli_check_ext("--traj", o->traj, ".png", "sample writes PNG images")))
        return 2;
    /* The lists are checked here too, before any file is read; only the check
     * against the model's class count waits for the weights. */
    if (o->have_cls && !all_digits(o->class_arg)) {
        o->classes = o->class_arg; /* a name: resolved once the model's names are read */
        o->named = 1;
    } else if (o->have_cls) {
        if (cli_int("--class", o->class_arg, 0, 1000, &o->cls))
            return 2;
        o->labels[0] = (int)o->cls;
        o->nlabels = 1;
    } else if (o->classes && strspn(o->classes, "0123456789,") != strlen(o->classes) &&
               strcmp(o->classes, "all") != 0 && strcmp(o->classes, "none") != 0) {
        o->named = 1;
    } else if (o->classes && strcmp(o->classes, "all") == 0) {
        o->rows = 1;
    } else if (o->classes && strcmp(o->classes, "none") == 0) {
        o->unguided = 1;
    } else if (o->classes && (o->nlabels = cli_parse_list("--classes", o->classes, 0, 1000, o->labels,
                                                      MAX_LIST)) < 0) {
        return 2;
    }
    o->ntraj = 0;
    if (o->traj) {
        if (o->traj_list) {
            if ((o->ntraj = cli_parse_list("--traj-steps", o->traj_list, 0, o->steps, o->traj_cols,
                                       MAX_LIST)) < 0)
                return 2;
        } else {
            int d[4] = {0, (int)o->steps / 4, (int)o->steps / 2, (int)o->steps};
            for (int i = 0; i < 4; i++)
                if (i == 0 || d[i] != o->traj_cols[o->ntraj - 1])
                    o->traj_cols[o->ntraj++] = d[i];
        }
    }
    return 0;
}

int parse_sample_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->n = 16;
    o->steps = 50;
    o->cols = 8;
    o->cfg = 2.0;
    o->out = "samples.png";
    o->sampler = "euler";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (o->weights)
                return cli_usage_error(CMD, "unexpected argument '%s'", a);
            o->weights = a;
            continue;
        }
        if (i + 1 >= argc)
            return cli_usage_error(CMD, "%s needs a value", a);
        const char *v = argv[++i];
        const char **str = NULL;
        long long *num = NULL, lo = 1, hi = 4096;
        /* clang-format off */
        if (strcmp(a, "--backend") == 0) str = &o->backend;
        else if (strcmp(a, "--sampler") == 0) str = &o->sampler;
        else if (strcmp(a, "--out") == 0) str = &o->out;
        else if (strcmp(a, "--traj") == 0) str = &o->traj;
        else if (strcmp(a, "--traj-steps") == 0) str = &o->traj_list;
        else if (strcmp(a, "--raw-out") == 0) str = &o->raw_out;
        else if (strcmp(a, "--f32-out") == 0) str = &o->f32_out;
        else if (strcmp(a, "--classes") == 0) str = &o->classes;
        else if (strcmp(a, "--vae") == 0) str = &o->vae;
        else if (strcmp(a, "--prompts") == 0) str = &o->prompts_file;
        else if (strcmp(a, "--vocab") == 0) str = &o->vocab;
        else if (strcmp(a, "--prompt") == 0) {
            if (o->nprompt == MAX_LIST)
                return cli_usage_error(CMD, "more than %d --prompt options", MAX_LIST);
            o->prompt[o->nprompt++] = v;
            continue;
        }
        else if (strcmp(a, "--n") == 0) num = &o->n, hi = 1024, o->have_n = 1;
        else if (strcmp(a, "--steps") == 0) num = &o->steps, hi = 100000;
        else if (strcmp(a, "--seed") == 0) num = &o->seed, lo = 0, hi = 1ll << 62;
        else if (strcmp(a, "--cols") == 0) num = &o->cols;
        else if (strcmp(a, "--class") == 0) str = &o->class_arg, o->have_cls = 1;
        else if (strcmp(a, "--cfg") == 0) {
            if (cli_float(a, v, -100, 100, &o->cfg))
                return 2;
            o->have_cfg = 1;
            continue;
        } else return cli_usage_error(CMD, "unknown option '%s'", a);
        /* clang-format on */
        if (str)
            *str = v;
        else if (cli_int(a, v, lo, hi, num))
            return 2;
    }
    return check_sample_args(o);
}

/* Trajectory capture: the state's pixels into `q` (a latent model's decoded first),
 * the columns asked for kept. */
typedef struct traj {
    fm_backend *be;
    cli_vae *vae; /* a latent model's autoencoder, else NULL */
    fm_tensor img; /* [N, C, H, W] f32: a latent state decoded */
    fm_tensor q;  /* [N, C, H, W] u8 on the backend */
    int ncols, cols[MAX_LIST];
    uint8_t *host; /* [ncols][N * C*H*W] */
    size_t frame;  /* N * C*H*W */
} traj;

static fm_status capture(traj *t, int step, const fm_tensor *x)
{
    for (int c = 0; c < t->ncols; c++) {
        if (t->cols[c] != step)
            continue;
        fm_status s = cli_latent_pixels(t->be, t->vae, x, &t->img, &t->q);
        if (s == FM_OK)
            s = fm_download(t->be, t->host + (size_t)c * t->frame, &t->q);
        if (s != FM_OK)
            return s;
    }
    return FM_OK;
}

static fm_status on_step(void *user, int step, const fm_tensor *x)
{
    return capture(user, step, x);
}

/* What cmd_sample opens, in order; close_job closes whatever is open. */
typedef struct job {
    opts o;
    fm_weights w; /* in wmem until the model holds its tensors */
    cli_mem wmem;
    cli_sampler s; /* backend and model */
    cli_vae vae;   /* a latent model's autoencoder (latent = 1) */
    int latent;
    traj tr;
    uint8_t *out;   /* [N * frame] the final images */
    float *out_f32; /* --f32-out: [N * frame] the final state */
    uint8_t *tiles; /* --traj: [N][ncols][frame], the trajectory grid's tiles */
    fm_config cfg;  /* the file's (a latent model's: the latent's channels and size) */
    char weights_path[CLI_WEIGHTS_PATH]; /* a shipped WEIGHTS' path (cli_find_input) */
    int N, C, H, K; /* C, H: the images' (a latent model's: its autoencoder's) */
    size_t frame, images_bytes, traj_bytes; /* frame = C*H*W; images = N frames */
    fm_tensor x, y, q; /* [N, cfg's C, H, W] f32 state, [N] i32 labels, [N, C, H, W] u8 */
    fm_tensor img;     /* a latent model's: [N, C, H, W] f32, the state decoded */
    /* The model's class names (text.classes), each NUL-ended; name[k] points into it. */
    char names[FM_TEXT_MAX + 1];
    const char *name[MAX_NAMES];
    const char *row[MAX_NAMES]; /* the grid's rows' names when each row is one class */
    /* A text model: its prompts (--prompt, or --prompts' lines), their ids [np, L], the
     * tokenizer, and each prompt's name for the grid's margin (cut to PNAME bytes). */
    int text, np;
    char *const *prompts;
    cli_lines plines;
    cli_tok tok;
    int32_t *ids;
#define PNAME 32
    char pname[MAX_NAMES][PNAME + 4];
} job;

/* Every output is checked before the (possibly long) sampling starts; then the
 * weights are read and checked. */
static void add_outputs(const job *j, cli_files *outs)
{
    cli_files_add(outs, "--out", j->o.out);
    cli_files_add(outs, "--traj", j->o.traj);
    cli_files_add(outs, "--raw-out", j->o.raw_out);
    cli_files_add(outs, "--f32-out", j->o.f32_out);
}

static int open_weights(job *j)
{
    cli_files outs = {0}, ins = {0};
    if (cli_find_input(j->o.weights, j->weights_path, sizeof j->weights_path, &j->o.weights))
        return 1;
    add_outputs(j, &outs);
    cli_files_add(&ins, "WEIGHTS", j->o.weights);
    cli_files_add(&ins, "--vae", j->o.vae);
    cli_files_add(&ins, "--prompts", j->o.prompts_file);
    cli_files_add(&ins, "--vocab", j->o.vocab);
    if (cli_check_outputs(&outs, &ins))
        return 1;
    if (cli_load_weights(j->o.weights, &j->w, NULL, &j->wmem))
        return 1;
    if (fm_vae_is(&j->w.cfg))
        return cli_error("%s is an autoencoder: use fmrt decode (its latents) or train a flow "
                         "model on it (fmrt train --vae)",
                         j->o.weights);
    if (!fm_arch_by_id(j->w.cfg.arch)->velocity)
        return cli_error("%s is a %s, not an image model: %s", j->o.weights,
                         fm_arch_by_id(j->w.cfg.arch)->name,
                         j->w.cfg.text_depth ? "a text encoder conditions a model trained with "
                                               "fmrt train --captions ... --text FILE"
                                             : "it samples no images");
    return cli_check_weights(j->o.weights, &j->w, FM_MODE_SAMPLE, j->o.raw);
}

/* A latent model's autoencoder, read and checked against the CRC the model records;
 * the outputs checked against the file found too. */
static int open_vae(job *j)
{
    cli_files outs = {0}, ins = {0};
    int r = cli_model_vae(j->o.weights, &j->w, j->o.vae, &j->vae);
    if (r <= 0)
        return -r;
    j->latent = 1;
    add_outputs(j, &outs);
    cli_files_add(&ins, "the autoencoder", j->vae.path);
    return cli_check_outputs(&outs, &ins);
}

/* A conditional model without --class/--classes (or with --classes all): a row of
 * --cols images per class, all K classes unless --n says otherwise, with guidance. */
static int class_rows(job *j)
{
    opts *o = &j->o;
    const int K = j->w.cfg.num_classes;
    if (K == 0)
        return o->rows ? cli_error("%s is an unconditional model (num_classes=0): --classes all "
                                   "does not apply", o->weights)
                       : 0;
    if (o->nlabels || o->unguided)
        return 0;
    if (!o->have_n)
        o->n = (long long)K * o->cols > MAX_LIST ? MAX_LIST : (long long)K * o->cols;
    for (int i = 0; i < o->n; i++)
        o->labels[i] = (int)(i / o->cols % K);
    o->nlabels = (int)o->n;
    return 0;
}

/* --class NAME / --classes a,b,3: each item a number or one of the class names the
 * model records (fmrt train --class-names). */
static int named_classes(job *j)
{
    opts *o = &j->o;
    fm_ckpt_state st;
    char err[256], item[FM_CLASS_NAME_MAX];
    if (!o->named)
        return 0;
    if (fm_ckpt_state_read(&j->w, &st, err, sizeof err) != FM_OK)
        return cli_error("%s: %s", o->weights, err);
    for (const char *p = o->classes; *p && o->nlabels < MAX_LIST; p += *p == ',') {
        size_t l = strcspn(p, ",");
        snprintf(item, sizeof item, "%.*s", (int)(l < sizeof item ? l : sizeof item - 1), p);
        p += l;
        int k = all_digits(item) ? atoi(item) : fm_class_index(&st.classes, item);
        if (k < 0 && !st.classes.n)
            return cli_error("class '%s': %s records no class names (fmrt train --class-names); "
                             "give numbers", item, o->weights);
        if (k < 0) {
            char names[FM_TEXT_MAX + 1];
            snprintf(names, sizeof names, "%.*s", (int)st.classes.n, st.classes.s);
            for (char *c = names; (c = strchr(c, '\n')) != NULL;)
                *c = ',';
            return cli_error("class '%s' is not one of the model's: %s", item, names);
        }
        o->labels[o->nlabels++] = k;
    }
    return 0;
}

/* The model's class names into j->name (none: name[0] NULL). */
static void read_names(job *j)
{
    fm_ckpt_state st;
    char err[256];
    j->name[0] = NULL;
    if (fm_ckpt_state_read(&j->w, &st, err, sizeof err) != FM_OK || !st.classes.n)
        return;
    memcpy(j->names, st.classes.s, st.classes.n);
    j->names[st.classes.n] = 0;
    int k = 0;
    for (char *p = j->names; p && k < MAX_NAMES - 1 && k < j->w.cfg.num_classes; k++) {
        j->name[k] = p;
        if ((p = strchr(p, '\n')) != NULL)
            *p++ = 0;
    }
    j->name[k] = NULL;
}

/* Row r of a grid of `cols` images labelled labels[i % nlabels] (i = r * cols ..) is
 * named when all its images are of one class and the model names its classes: 1 when
 * every row is, j->row then set. */
static int name_rows(job *j, int n, int cols)
{
    const opts *o = &j->o;
    const int rows = (n + cols - 1) / cols;
    if (!j->name[0] || !o->nlabels || rows > MAX_NAMES)
        return 0;
    for (int r = 0; r < rows; r++) {
        const int k = o->labels[r * cols % o->nlabels];
        for (int i = r * cols; i < n && i < (r + 1) * cols; i++)
            if (o->labels[i % o->nlabels] != k)
                return 0;
        j->row[r] = j->name[k];
    }
    return 1;
}

/* Rows of a grid of `cols` images, image i of prompt (i / --cols) % np, named by their
 * prompts when each row is one prompt: 1, j->row then set. */
static int prompt_rows(job *j, int n, int cols)
{
    const int rows = (n + cols - 1) / cols, c = (int)j->o.cols;
    if (!j->np || j->np >= MAX_NAMES || rows > MAX_NAMES)
        return 0;
    for (int r = 0; r < rows; r++) {
        const int k = r * cols / c % j->np;
        for (int i = r * cols; i < n && i < (r + 1) * cols; i++)
            if (i / c % j->np != k)
                return 0;
        j->row[r] = j->pname[k];
    }
    return 1;
}

/* A text model's prompts tokenized (the rows of the grid), or none: the empty prompt,
 * unguided. --prompt on a model without a text encoder, --class on one with, one line. */
static int text_job(job *j)
{
    opts *o = &j->o;
    const fm_config *c = &j->w.cfg;
    j->text = c->text_depth > 0;
    const int asked = o->nprompt > 0 || o->prompts_file;
    if (!j->text && asked)
        return cli_error("%s is not a text model (it has no text encoder): --prompt%s applies to "
                         "models trained with --captions%s",
                         o->weights, o->prompts_file ? "s" : "",
                         c->num_classes ? "; this one takes --class" : "");
    if (!j->text && o->vocab)
        return cli_error("--vocab: %s is not a text model (it has no text encoder)", o->weights);
    if (!j->text)
        return 0;
    if (o->have_cls || o->classes)
        return cli_error("%s is a text model: --class/--classes do not apply (give --prompt "
                         "TEXT)",
                         o->weights);
    if (o->prompts_file && cli_lines_read("--prompts", o->prompts_file, MAX_LIST, &j->plines))
        return 1;
    j->np = o->prompts_file ? j->plines.n : o->nprompt;
    j->prompts = o->prompts_file ? j->plines.line : (char *const *)o->prompt;
    if (!j->np && o->have_cfg)
        return cli_error("--cfg: without --prompt a text model samples the empty prompt, "
                         "unguided");
    fm_ckpt_state st;
    char err[256], rec[4096];
    const char *vocab = o->vocab;
    if (!vocab && c->text_tokenizer == FM_TOK_CLIP_BPE &&
        fm_ckpt_state_read(&j->w, &st, err, sizeof err) == FM_OK &&
        cli_text_value(&st.data, "vocab", rec, sizeof rec))
        vocab = rec;
    if (!j->np)
        return 0;
    if (cli_tok_open(&j->tok, c, vocab))
        return 1;
    const int L = c->text_ctx;
    int cut = 0, first = -1;
    if (!(j->ids = malloc((size_t)j->np * (size_t)L * sizeof(int32_t))))
        return cli_error("cannot allocate the prompts' ids");
    if (cli_tok_rows(&j->tok, c, j->prompts, j->np, j->ids, &cut, &first))
        return 1;
    if (cut)
        cli_error("note: %d prompt%s longer than the model's context of %d tokens: cut to its "
                  "first %d and the end token (the first: prompt %d)",
                  cut, cut == 1 ? " is" : "s are", L, L - 2, first + 1);
    for (int k = 0; k < j->np && k < MAX_NAMES; k++)
        snprintf(j->pname[k], sizeof j->pname[k], "%.*s%s", PNAME, j->prompts[k][0] ? j->prompts[k] : "(empty)",
                 strlen(j->prompts[k]) > PNAME ? "..." : "");
    if (!o->have_n)
        o->n = (long long)j->np * o->cols > MAX_LIST ? MAX_LIST : (long long)j->np * o->cols;
    return 0;
}

/* The sizes of the run, and the labels checked against the model's classes. */
static int size_job(job *j)
{
    const opts *o = &j->o;
    if (text_job(j))
        return 1;
    if (!j->text && (named_classes(j) || class_rows(j)))
        return 1;
    read_names(j); /* for the grids, before the weights' memory goes */
    if (o->have_cfg && j->w.cfg.num_classes == 0 && !j->text)
        return cli_error("%s is an unconditional model (num_classes=0): --cfg does not apply",
                         o->weights);
    j->cfg = j->w.cfg;
    j->N = (int)o->n;
    j->C = j->latent ? j->vae.w.cfg.in_channels : j->cfg.in_channels;
    j->H = j->latent ? j->vae.w.cfg.image : j->cfg.image;
    j->K = j->cfg.num_classes;
    /* The config is the file's: every size below is checked (a validated config
     * keeps frame under 2^28, but N frames, the arena and the trajectory are
     * products of that with flags). */
    j->frame = (size_t)j->C * (size_t)j->H * (size_t)j->H;
    if (!fm_mul_size(j->frame, (size_t)j->N, &j->images_bytes) ||
        !fm_mul_size(j->images_bytes, (size_t)(o->ntraj > 0 ? o->ntraj : 1), &j->traj_bytes))
        return cli_error("%s: %d images of %zu bytes do not fit in this address space", o->weights,
                         j->N, j->frame);

    if (o->nlabels && j->K == 0)
        return cli_error("%s is an unconditional model (num_classes=0): --class/--classes do "
                         "not apply",
                         o->weights);
    for (int i = 0; i < o->nlabels; i++)
        if (o->labels[i] >= j->K)
            return cli_error("class %d out of range: the model has %d classes (0..%d)",
                             o->labels[i], j->K, j->K - 1);
    j->tr.ncols = o->ntraj;
    memcpy(j->tr.cols, o->traj_cols, sizeof j->tr.cols);
    return 0;
}

/* The backend, sized by the plan plus the u8 output tensor this command allocates
 * beside the planned ones (a latent model: plus its autoencoder's plan and the f32
 * images it decodes into), and the model (and autoencoder) on it. */
static int open_model(job *j)
{
    size_t extra = j->images_bytes, vae_bytes = 0;
    /* A text model's y: N rows of text_ctx ids, beside the planned tensors. */
    if (j->text && !fm_add_size(extra, (size_t)j->N * (size_t)j->cfg.text_ctx * 4 + 64, &extra))
        return cli_error("%s: the prompts' ids do not fit", j->o.weights);
    if (j->latent && (cli_vae_arena_bytes(&j->vae, j->N, &vae_bytes) ||
                      !fm_mul_add_size(j->images_bytes, 5, vae_bytes, &extra)))
        return cli_error("%s: the autoencoder's arena does not fit", j->vae.path);
    int rc = cli_open_sampler(j->o.weights, &j->wmem, &j->w, j->o.backend, j->N, j->o.raw, extra,
                              &j->s);
    return rc || !j->latent ? rc : cli_vae_attach(&j->vae, &j->s.be, j->N);
}

/* x (noise of --seed, stream 0), y (the labels cycling through the list), q and a
 * latent model's img. */
static fm_status init_tensors(job *j)
{
    j->x = fm_tensor_4d(FM_F32, j->N, j->cfg.in_channels, j->cfg.image, j->cfg.image);
    j->y = fm_tensor_1d(FM_I32, (int64_t)j->N * (j->np ? j->cfg.text_ctx : 1));
    j->q = fm_tensor_4d(FM_U8, j->N, j->C, j->H, j->H);
    j->img = fm_tensor_4d(FM_F32, j->N, j->C, j->H, j->H);
    fm_status s = fm_tensor_alloc(&j->s.be, &j->x);
    if (s == FM_OK && j->latent)
        s = fm_tensor_alloc(&j->s.be, &j->img);
    if (s == FM_OK)
        s = fm_tensor_alloc(&j->s.be, &j->y);
    if (s == FM_OK)
        s = fm_tensor_alloc(&j->s.be, &j->q);
    if (s == FM_OK)
        s = fm_noise(&j->s.be, &j->x, (uint64_t)j->o.seed, 0);
    if (s == FM_OK && j->np) { /* image i: prompt (i / cols) % np */
        const size_t L = (size_t)j->cfg.text_ctx;
        int32_t *yv = malloc((size_t)j->N * L * sizeof(int32_t));
        if (!yv)
            return fm_fail(&j->s.be, FM_ERR_ARENA, "cannot allocate the prompts' rows");
        for (int i = 0; i < j->N; i++)
            memcpy(yv + (size_t)i * L, j->ids + (size_t)(i / (int)j->o.cols % j->np) * L,
                   L * sizeof(int32_t));
        s = fm_upload(&j->s.be, &j->y, yv);
        free(yv);
    }
    if (s == FM_OK && j->o.nlabels) {
        int32_t yv[1024];
        for (int i = 0; i < j->N; i++)
            yv[i] = j->o.labels[i % j->o.nlabels];
        s = fm_upload(&j->s.be, &j->y, yv);
    }
    return s;
}

/* The host buffers. With --traj, step 0 (the noise) is captured while *s, the
 * status so far, is FM_OK. */
static int alloc_outputs(job *j, fm_status *s)
{
    j->out = malloc(j->images_bytes);
    if (j->o.f32_out && !(j->out_f32 = malloc(j->images_bytes * sizeof(float))))
        return cli_error("cannot allocate the --f32-out buffer");
    if (j->o.traj) {
        j->tr.be = &j->s.be;
        j->tr.vae = j->latent ? &j->vae : NULL;
        j->tr.img = j->img;
        j->tr.q = j->q;
        j->tr.frame = j->images_bytes;
        j->tr.host = malloc(j->traj_bytes);
        j->tiles = malloc(j->traj_bytes);
        if (!j->tr.host || !j->tiles)
            return cli_error("cannot allocate the trajectory buffers");
        if (*s == FM_OK)
            *s = capture(&j->tr, 0, &j->x);
    }
    if (!j->out)
        return cli_error("cannot allocate the output buffer");
    return 0;
}

/* Noise to images: the sampler, then the final state quantised into out. */
static int draw(job *j)
{
    const opts *o = &j->o;
    fm_status s = init_tensors(j);
    int rc = alloc_outputs(j, &s);
    if (rc != 0)
        return rc;
    double t0 = cli_now();
    if (s == FM_OK) {
        fm_sample_opts so = {.steps = (int)o->steps,
                             .heun = strcmp(o->sampler, "heun") == 0,
                             .guidance = o->nlabels > 0 || j->np > 0,
                             .cfg_scale = (float)o->cfg,
                             .on_step = o->traj ? on_step : NULL,
                             .user = &j->tr};
        s = fm_sample(j->s.m, &j->s.m->flat, &j->x, o->nlabels || j->np ? &j->y : NULL, &so);
    }
    if (s == FM_OK)
        s = cli_latent_pixels(&j->s.be, j->latent ? &j->vae : NULL, &j->x, &j->img, &j->q);
    if (s == FM_OK)
        s = fm_download(&j->s.be, j->out, &j->q);
    if (s == FM_OK && j->out_f32)
        s = fm_download(&j->s.be, j->out_f32, j->latent ? &j->img : &j->x);
    if (s != FM_OK)
        return cli_error("sampling: %s", j->s.be.err);
    double el = cli_now() - t0;
    fprintf(stderr, "sampled %d images x %lld %s steps%s in %.2f s (%s weights, backend %s)\n",
            j->N, o->steps, o->sampler,
            j->np ? " with guidance (prompts)" : j->text ? " from the empty prompt"
            : o->nlabels ? " with guidance" : "", el,
            o->raw ? "raw" : "EMA", fm_backend_name(&j->s.be));
    if (j->latent)
        fprintf(stderr, "decoded %dx%dx%d latents to %dx%dx%d images with %s\n",
                j->cfg.in_channels, j->cfg.image, j->cfg.image, j->C, j->H, j->H, j->vae.path);
    return 0;
}

/* --out, then --traj and --raw-out where asked for. Tiles are RGB for 3 channels,
 * else grey C*H x W (channels stacked vertically; one for MNIST). */
static int write_outputs(job *j)
{
    const opts *o = &j->o;
    const int N = j->N, ncols = j->tr.ncols;
    const int gc = j->C == 3 ? 3 : 1, th = j->C == 3 ? j->H : j->C * j->H;
    const size_t frame = j->frame;
    int named = j->np ? prompt_rows(j, N, (int)o->cols) : name_rows(j, N, (int)o->cols);
    int rc = cli_write_grid(o->out, j->out, N, gc, th, j->H, (int)o->cols, named ? j->row : NULL);
    if (rc != 0)
        return rc;
    fprintf(stderr, "wrote %s\n", o->out);
    if (o->traj) {
        /* Row = sample, column = captured step. */
        for (int i = 0; i < N; i++)
            for (int c = 0; c < ncols; c++)
                memcpy(j->tiles + ((size_t)i * (size_t)ncols + (size_t)c) * frame,
                       j->tr.host + (size_t)c * j->tr.frame + (size_t)i * frame, frame);
        /* Row i is sample i, of class labels[i % nlabels]. */
        named = j->np ? prompt_rows(j, N, 1) : name_rows(j, N, 1);
        if ((rc = cli_write_grid(o->traj, j->tiles, N * ncols, gc, th, j->H, ncols,
                                 named ? j->row : NULL)) != 0)
            return rc;
        fprintf(stderr, "wrote %s\n", o->traj);
    }
    if (o->raw_out) {
        size_t len = frame * (size_t)N;
        if (cli_write_file(o->raw_out, j->out, len))
            return 1;
        fprintf(stderr, "wrote %s (%zu bytes: %d x %d x %d x %d u8)\n", o->raw_out, len, N, j->C,
                j->H, j->H);
    }
    if (o->f32_out) {
        size_t len = frame * (size_t)N * sizeof(float);
        if (cli_write_file(o->f32_out, j->out_f32, len))
            return 1;
        fprintf(stderr, "wrote %s (%zu bytes: %d x %d x %d x %d f32)\n", o->f32_out, len, N, j->C,
                j->H, j->H);
    }
    return 0;
}

static int close_job(job *j, int rc)
{
    cli_vae_close(&j->vae);
    cli_close_sampler(&j->s);
    free(j->out);
    free(j->out_f32);
    free(j->tiles);
    free(j->tr.host);
    cli_mem_free(&j->wmem);
    cli_lines_free(&j->plines);
    cli_tok_close(&j->tok);
    free(j->ids);
    return rc;
}

int cmd_sample(int argc, char **argv)
{
    job j = {0};
    int rc = parse_sample_args(argc, argv, &j.o);
    if (rc == CLI_HELP) {
        usage(stdout);
        return 0;
    }
    if (rc)
        return rc;
    signal(SIGXFSZ, SIG_IGN);

    if ((rc = open_weights(&j)) == 0 && (rc = open_vae(&j)) == 0 && (rc = size_job(&j)) == 0 &&
        (rc = open_model(&j)) == 0 && (rc = draw(&j)) == 0)
        rc = write_outputs(&j);
    return close_job(&j, rc);
}
