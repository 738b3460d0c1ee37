/* fmrt train: the seed notebook's training loop over MNIST-format IDX files; also
 * fmrt train-vae, the same loop on an autoencoder (docs/spec/vae.md), and fmrt train
 * --vae, a flow model on an autoencoder's latents.
 *
 * The model's kind is decided once, from its config (fm_vae_is): an autoencoder
 * ("ae") steps by fm_vae_train_step (REC + beta KL; labels unused), logs rec and kl,
 * records its KL weight (text.data kl_weight=) and, with its final weights, its
 * latent scale; a flow model on latents ("latent") uploads each batch's images and
 * encodes them into its x0 with the autoencoder on the same backend.
 *
 * Determinism: every random number of a run is a pure function of (seed, step,
 * epoch): the initial weights (Philox(seed)), the per-step noise, t and label
 * dropout (FM_STREAM(step, k)), and the data order, a Fisher-Yates shuffle per
 * epoch whose draws come from Philox(seed) stream CLI_SHUFFLE_STREAM + epoch. A
 * checkpoint therefore only needs the tensors (raw, EMA, Adam moments), the step
 * and the position in the epoch to continue bit-identically.
 *
 * --dist (train_dist.h): rank r of N takes rows r B/N .. (r+1) B/N - 1 of every
 * global batch of B and draws those rows' numbers (fm_train_opts.shard); the
 * gradients are averaged before the update, so the N ranks run the one-rank run's
 * steps up to summation order. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_colour.h"
#include "cli_config.h"
#include "cli_data.h"
#include "cli_latent.h"
#include "cli_mem.h"
#include "cli_pack.h"
#include "cli_preview.h"
#include "cli_text.h"
#include "cli_train.h"
#include "commands.h"
#include "flow.h"
#include "io.h"
#include "philox.h"
#include "size.h"
#include "train_dist.h"
#include "vae.h"

/* Shuffle streams sit far from the step streams FM_STREAM(step, k) = 4 step + k,
 * which reach them only after 2^28 steps. */

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

typedef cli_train_opts opts;

/* 1 when --config set `key` (key=...). */
static int config_given(const cli_config_opts *c, const char *key)
{
    const size_t n = strlen(key);
    for (int i = 0; i < c->nsets; i++)
        if (strncmp(c->sets[i], key, n) == 0 && c->sets[i][n] == '=')
            return 1;
    return 0;
}

/* The training set (cli_data_open: whatever --data holds), at the image size and
 * channels of img (the model's, or under --vae its autoencoder's) when they are known
 * (a resume, --vae, or --config image= / in_channels=); a new run otherwise takes the
 * data's own. Labels must be below num_classes (0: any). */
static int load_data(const opts *o, const fm_config *img, int known, int num_classes,
                     cli_data *d)
{
    const int image = known || config_given(&o->cfg, "image"),
              ch = known || config_given(&o->cfg, "in_channels");
    const cli_data_want want = {.image = image ? img->image : 0,
                                .channels = ch ? img->in_channels : 0,
                                .num_classes = num_classes};
    return cli_data_open(o->data, o->images, o->labels, "train", &want, d);
}

/* What cmd_train opens, in order. Every field starts zeroed, so close_session is
 * right after any stage. */
typedef struct session {
    opts o;
    fm_config cfg;
    fm_ckpt_state st; /* the checkpoint's with --resume, else filled in for a new run */
    fm_weights w;     /* --resume: the checkpoint, in ckmem until the model holds it */
    cli_data data; /* the training set */
    fm_dataset ds; /* data.ds, its first --limit images */
    cli_mem ckmem, bemem, scratchmem;
    fm_model *m;
    fm_backend be;
    int be_open;
    int auto_classes; /* num_classes came from the labels (no --classes) */
    int batch, lb; /* the global batch; this rank's share (batch / ranks) */
    int preview_n, preview_cols; /* --preview-every: the grid's images and columns */
    /* What st.data and st.classes point to (the checkpoint's memory is freed early);
     * the recorded data's paths when a resume names none. */
    char data_text[FM_TEXT_MAX], class_text[FM_TEXT_MAX], rec_data[FM_TEXT_MAX],
        rec_labels[FM_TEXT_MAX];
    size_t class_len; /* --class-names parsed into class_text */
    int ae;       /* the model is an autoencoder (fm_vae_is, decided by check_kind) */
    float beta;   /* ae: the run's KL weight */
    int latent;   /* a flow model on vae's latents (--vae, or the checkpoint's) */
    cli_vae vae;
    train_dist dist;
    int64_t spe, total; /* steps per epoch; the step the run ends at */
    FILE *log;
    /* A text model (cfg.text_depth > 0, docs/spec/text.md): its captions (--captions,
     * or the run's recorded file), tokenized once into ids [ds.n, text_ctx]; the
     * tokenizer (--vocab or the recorded vocabulary for CLIP BPE); a frozen encoder
     * (--text F, or a resumed run's text_frozen=1) and the file it came from. */
    int text;
    cli_lines caps;
    cli_tok tok;
    int32_t *ids;
    int frozen;
    char captions[PATH_MAX], vocab[PATH_MAX], text_from[PATH_MAX];
    char held[CLI_NPAIRS * 12]; /* colour MNIST's held-out pairs, "red 7,green 2" */
    fm_weights tw; /* --text F, in twmem until its tensors are copied */
    cli_mem twmem;
} session;

/* The step loop's state; st runs ahead of the session's until the run ends. */
typedef struct run {
    opts *o;
    fm_model *m;
    fm_backend *be;
    const fm_dataset *ds;
    cli_data *data;
    const fm_train_opts *to;
    FILE *log;
    fm_ckpt_state st;
    fm_arena scratch;
    int B, C, HW, cond, tty;
    int lb;          /* this rank's rows of each batch of B (B on one rank) */
    int preview_n, preview_cols;
    train_dist *dist;
    int64_t total, spe, epochs, first; /* first: the step the run (or resume) starts after */
    int ae;                            /* an autoencoder (session.ae) of KL weight beta */
    float beta;
    fm_vae_loss vl;                    /* ae: the last step's loss, rec and kl */
    cli_vae *vae;                      /* latent: the autoencoder that encodes xi into x0 */
    int64_t timed;                     /* latent: the step whose encode and step are timed */
    fm_tensor xi;                      /* [lb, C, H, W] f32 images on the backend */
    fm_tensor x0;                      /* the model's input: xi, or xi's latents */
    float *zc;                         /* latent: every image's latent k mu, zper floats
                                          each, when encoded once (NULL: at each step) */
    size_t zper;
    float *xb;                         /* the same rows on the host */
    int32_t *yb;                       /* [lb] labels */
    uint32_t *perm;                    /* [n] the order of epoch perm_epoch */
    const int32_t *ids;                /* a text model: every image's ids [n, wy] */
    int wy;                            /* int32 values of a row's y: 1 or text_ctx */
    uint8_t *pb;                       /* [lb, C, H, W] the batch's pixels */
    double t0, tlast;
    int stop; /* --dist: some rank asked to stop (the same on every rank) */
    int64_t skipped;
    int shuffled; /* perm holds the order of epoch perm_epoch */
    uint64_t perm_epoch;
} run;

/* One finished step as the log and the progress line show it. */
typedef struct tick {
    uint64_t step, ep, pos; /* ep: the step's epoch (from 0); pos: its batch in it (from 1) */
    float loss;
    fm_vae_loss vl; /* an autoencoder's terms */
    double mean, ips, dt; /* the epoch's mean loss so far; img/s of the run; this step's s */
} tick;

/* Images at .. at + n - 1 of the training set (in the data's order, unflipped) onto
 * the backend (xi's first n rows) and their latent means (EMA weights) into zh on the
 * host. */
static int encode_rows(run *r, int at, int n, const fm_tensor *z, float *zh)
{
    uint32_t idx[FM_MAX_BATCH];
    for (int i = 0; i < n; i++)
        idx[i] = (uint32_t)(at + i);
    if (cli_data_rows(r->data, idx, n, r->pb, NULL))
        return 1;
    cli_pixels(r->xb, r->pb, (size_t)n * (size_t)r->C * (size_t)r->HW);
    const fm_tensor xs = fm_tensor_slice(r->xi, 0, n), zs = fm_tensor_slice(*z, 0, n);
    fm_status s = fm_upload(r->be, &xs, r->xb);
    if (s == FM_OK)
        s = fm_vae_encode(r->m, &r->m->ema, &xs, 1.0f, &zs);
    if (s == FM_OK)
        s = fm_download(r->be, zh, &zs);
    return s == FM_OK ? 0 : cli_error("latent scale: %s", r->be->err);
}

/* The autoencoder's latent scale (docs/spec/vae.md, "Latent scale"): k = 1 / the
 * population std of every element of the latent means of the first min(10000, n)
 * training images, encoded in batches of lb with the EMA weights; into st.latent_scale.
 * Sums in double: the elements are O(1), so sum x^2 - n mean^2 loses nothing that
 * shows in the float k. Arena: the z tensor and an encode, within scale_bytes. */
static int measure_scale(run *r)
{
    const int n = r->ds->n < FM_VAE_SCALE_IMAGES ? r->ds->n : FM_VAE_SCALE_IMAGES;
    int64_t ls[4];
    fm_vae_latent_shape(&r->m->cfg, r->lb, ls);
    fm_tensor z = fm_tensor_4d(FM_F32, ls[0], ls[1], ls[2], ls[3]);
    const size_t per = (size_t)(ls[1] * ls[2] * ls[3]); /* latent elements per image */
    float *zh = malloc(fm_tensor_bytes(&z));
    if (!zh)
        return cli_error("latent scale: cannot allocate %zu bytes", fm_tensor_bytes(&z));
    fm_arena_mark mark = fm_arena_get_mark(&r->be->arena, "latent scale");
    int rc = fm_tensor_alloc(r->be, &z) == FM_OK ? 0 : cli_error("latent scale: %s", r->be->err);
    double sum = 0, sq = 0;
    for (int at = 0; at < n && rc == 0; at += r->lb) {
        const int k = n - at < r->lb ? n - at : r->lb;
        rc = encode_rows(r, at, k, &z, zh);
        for (size_t i = 0; rc == 0 && i < (size_t)k * per; i++)
            sum += zh[i], sq += (double)zh[i] * zh[i];
    }
    fm_arena_reset(&r->be->arena, mark);
    free(zh);
    if (rc != 0)
        return rc;
    const double count = (double)n * (double)per, mean = sum / count,
                 sd = sqrt(fmax(sq / count - mean * mean, 0));
    if (!(sd > 0) || !isfinite(sd) || !isfinite((float)(1 / sd)))
        return cli_error("latent scale: the latents' std is %g; the weights are written without "
                         "a scale", sd);
    r->st.latent_scale = (float)(1 / sd);
    fprintf(stderr, "latent scale %.4f (std of %d latents %.4f)\n", (double)r->st.latent_scale, n,
            sd);
    return 0;
}

/* Both files are attempted even when one fails, so one bad path loses nothing else.
 * An autoencoder's final files record its latent scale, measured here. */
static int save_all(run *r, int final)
{
    char err[512];
    int rc = 0;
    if (r->dist->rank != 0) /* rank 0 writes; every rank holds the same state */
        return 0;
    if (final && r->ae)
        rc = measure_scale(r);
    if (r->o->ckpt && fm_model_save(r->m, r->o->ckpt, FM_WEIGHTS_KIND_CHECKPOINT, &r->st,
                                   &r->scratch, err, sizeof err) != FM_OK)
        rc = cli_error("writing checkpoint: %s", err);
    if (final && fm_model_save(r->m, r->o->out, FM_WEIGHTS_KIND_WEIGHTS, &r->st, &r->scratch, err,
                              sizeof err) != FM_OK)
        rc = cli_error("writing weights: %s", err);
    return rc;
}

static const char *captions_file(const char *path, char *buf, size_t len);

/* Every output checked before hours of training start (cli_check_outputs): --out,
 * --ckpt and --log distinct and none of them a data file; --out and --log not the
 * checkpoint being resumed (--ckpt may be: the run goes on writing it). A resumed
 * run's outputs are its own (the run that wrote them goes on): an existing one is
 * replaced (--log: extended) without --force; a new run's are not. --vae is an input
 * as the data is. */
static int check_outputs(const opts *o)
{
    cli_files outs = {0}, data = {0}, resume = {0}, final = {0};
    void (*add)(cli_files *, const char *, const char *) = o->resume ? cli_files_add_own
                                                                     : cli_files_add;
    add(&outs, "--out", o->out);
    add(&outs, "--ckpt", o->ckpt);
    add(&outs, "--log", o->log);
    add(&outs, "--preview", o->preview);
    cli_files_add_data(&data, "--data", o->data);
    cli_files_add(&data, "--images", o->images);
    cli_files_add(&data, "--labels", o->labels);
    cli_files_add(&data, "--vae", o->vae);
    char cap[PATH_MAX + 32];
    cli_files_add(&data, "--captions", captions_file(o->captions, cap, sizeof cap));
    cli_files_add(&data, "--text", o->text);
    cli_files_add(&data, "--vocab", o->vocab);
    cli_files_add(&resume, "--resume", o->resume);
    add(&final, "--out", o->out);
    add(&final, "--log", o->log);
    /* A resume's --ckpt defaults to --resume, so --out = --resume is named as such first. */
    return (o->resume && cli_check_outputs(&final, &resume)) || cli_check_outputs(&outs, &data) ||
           cli_check_outputs(&final, &resume);
}

/* The images' tensor xi and the model's input x0: xi itself, or under --vae the
 * latents [lb, Z, s, s] xi is encoded into. */
static int alloc_batch(run *r)
{
    r->xi = fm_tensor_4d(FM_F32, r->lb, r->C, r->ds->h, r->ds->w);
    if (fm_tensor_alloc(r->be, &r->xi) != FM_OK)
        return cli_error("batch tensor: %s", r->be->err);
    r->x0 = r->xi;
    if (!r->vae)
        return 0;
    int64_t ls[4];
    fm_vae_latent_shape(&r->vae->m->cfg, r->lb, ls);
    r->x0 = fm_tensor_4d(FM_F32, ls[0], ls[1], ls[2], ls[3]);
    if (fm_tensor_alloc(r->be, &r->x0) != FM_OK)
        return cli_error("latent batch tensor: %s", r->be->err);
    return 0;
}

/* The checkpoint writer's scratch arena, the batch tensors and the host buffers
 * (freed by train, also on failure). */
static int alloc_run(run *r, cli_mem *scratch_mem)
{
    if (cli_host_arena(&r->scratch, fm_model_save_scratch_bytes(r->m, FM_WEIGHTS_KIND_CHECKPOINT),
                       scratch_mem))
        return 1;
    if (alloc_batch(r))
        return 1;
    size_t xbytes = 0;
    if (fm_mul_size((size_t)r->lb * sizeof(float), (size_t)r->C, &xbytes) &&
        fm_mul_size(xbytes, (size_t)r->HW, &xbytes))
        r->xb = malloc(xbytes);
    r->yb = malloc(sizeof(int32_t) * (size_t)r->lb * (size_t)r->wy);
    r->perm = malloc(sizeof(uint32_t) * (size_t)r->ds->n);
    r->pb = malloc(xbytes / sizeof(float));
    if (!r->xb || !r->yb || !r->perm || !r->pb)
        return cli_error("cannot allocate the host batch buffers");
    return 0;
}

/* --flip's draw for row `row` of the global batch of step `step`: Philox(seed),
 * element step * B + row, stream CLI_FLIP_STREAM; mirrored when below 1/2. A pure
 * function of the run's state, so a resume draws the same. */
#define CLI_FLIP_STREAM 0x50000000u
static int flip_row(const run *r, uint64_t step, uint64_t row)
{
    return fm_philox_uniform(r->st.opts.seed, step * (uint64_t)r->B + row, CLI_FLIP_STREAM) < 0.5f;
}

/* A text model's y: the captions' ids of this rank's rows (the images at perm[row0 ..]),
 * in place of their labels. */
static int text_rows(run *r, uint64_t row0)
{
    if (!r->ids)
        return 0;
    const size_t w = (size_t)r->wy;
    for (int b = 0; b < r->lb; b++)
        memcpy(r->yb + (size_t)b * w, r->ids + (size_t)r->perm[row0 + (uint64_t)b] * w,
               w * sizeof(int32_t));
    return 0;
}

/* This rank's rows of the next batch of this epoch's order on the host (rows
 * rank * lb .. + lb of the B; all B on one rank): pixels p -> p / 127.5 - 1. The
 * data's reader is then told the rows of the batch after (within the epoch), which
 * a pack fetches while this step computes. */
static int gather_batch(run *r)
{
    if (!r->shuffled || r->perm_epoch != r->st.epoch) {
        cli_shuffle(r->perm, r->ds->n, r->st.opts.seed, r->st.epoch);
        r->shuffled = 1;
        r->perm_epoch = r->st.epoch;
    }
    const uint64_t row0 = r->st.cursor * (uint64_t)r->B + (uint64_t)r->dist->rank * (uint64_t)r->lb;
    const size_t frame = (size_t)r->C * (size_t)r->HW; /* channel-major, as xi */
    uint8_t lab[FM_MAX_BATCH];
    if (r->zc) { /* the latents encoded once: the rows' copies, no image read */
        for (int b = 0; b < r->lb; b++) {
            const uint32_t i = r->perm[row0 + (uint64_t)b];
            memcpy(r->xb + (size_t)b * r->zper, r->zc + (size_t)i * r->zper,
                   r->zper * sizeof(float));
            r->yb[b] = r->ds->labels ? r->ds->labels[i] : 0;
        }
        return text_rows(r, row0);
    }
    if (cli_data_rows(r->data, r->perm + row0, r->lb, r->pb, lab))
        return 1;
    if (r->st.cursor + 1 < (uint64_t)r->spe)
        cli_data_prefetch(r->data, r->perm + row0 + r->B, r->lb);
    for (int b = 0; b < r->lb; b++) {
        uint8_t *px = r->pb + (size_t)b * frame;
        if (r->o->flip &&
            flip_row(r, r->st.step + 1, (uint64_t)r->dist->rank * (uint64_t)r->lb + (uint64_t)b))
            cli_img_flip(px, r->C, r->ds->h, r->ds->w);
        cli_pixels(r->xb + (size_t)b * frame, px, frame);
        r->yb[b] = lab[b];
    }
    return text_rows(r, row0);
}

/* The state moved past `step` (one batch further in the epoch), and the step timed. */
static tick advance(run *r, uint64_t step, float loss, int ok)
{
    tick t = {.step = step, .loss = loss};
    double now = cli_now();
    t.dt = now - r->tlast;
    r->tlast = now;
    r->st.step = step;
    if (ok) { /* a skipped step has no loss to average */
        r->st.epoch_loss += loss;
        r->st.epoch_steps++;
    }
    t.mean = r->st.epoch_loss / (double)(r->st.epoch_steps ? r->st.epoch_steps : 1);
    t.ep = r->st.epoch;
    t.pos = r->st.cursor + 1;
    if (++r->st.cursor == (uint64_t)r->spe) {
        r->st.cursor = 0;
        r->st.epoch++;
    }
    t.ips = (double)(step - (uint64_t)r->first) * r->B / (now - r->t0);
    return t;
}

/* An autoencoder's terms after the loss (nothing for a flow model): the log's
 * ",rec,kl" columns (REC per image, so loss = rec + beta kl; t NULL: the header's
 * names), or the progress line's REC per pixel (the mean squared error) and KL. */
static const char *ae_terms(int ae, const fm_config *cfg, const tick *t, int csv, char *buf,
                            size_t len)
{
    const double px = (double)cfg->in_channels * cfg->image * cfg->image;
    buf[0] = 0;
    if (ae && !t)
        snprintf(buf, len, ",rec,kl");
    else if (ae)
        snprintf(buf, len, csv ? ",%.6f,%.6f" : " rec/px %.5f kl %.3f",
                 csv ? (double)t->vl.rec : t->vl.rec / px, (double)t->vl.kl);
    return buf;
}

/* The --log row, then a bar redrawn in place on a TTY, or a line every --log-every
 * steps (and the first and last) otherwise. */
static void progress(const run *r, const tick *t)
{
    char terms[64];
    if (r->dist->rank != 0)
        return;
    if (r->log) { /* flushed: the CSV is readable (fmrt plot) while the run goes on */
        fprintf(r->log, "%llu,%llu,%.6f,%.2f%s\n", (unsigned long long)t->step,
                (unsigned long long)t->ep + 1, (double)t->loss, t->dt > 0 ? r->B / t->dt : 0.0,
                ae_terms(r->ae, &r->m->cfg, t, 1, terms, sizeof terms));
        fflush(r->log);
    }
    ae_terms(r->ae, &r->m->cfg, t, 0, terms, sizeof terms);
    char eta[32];
    cli_hms((double)(r->total - (int64_t)t->step) * r->B / t->ips, eta, sizeof eta);
    if (r->tty) {
        char bar[21];
        int fill = (int)(20 * (int64_t)t->step / r->total); /* the run's progress */
        for (int k = 0; k < 20; k++)
            bar[k] = k < fill ? '=' : k == fill ? '>' : ' ';
        bar[20] = 0;
        fprintf(stderr,
                "\rstep %llu/%lld epoch %llu/%lld [%s] loss %.4f%s img/s %.1f ETA %s\x1b[K",
                (unsigned long long)t->step, (long long)r->total, (unsigned long long)t->ep + 1,
                (long long)r->epochs, bar, t->mean, terms, t->ips, eta);
    } else if (t->step % (uint64_t)r->o->log_every == 0 || (int64_t)t->step == r->first + 1 ||
               (int64_t)t->step == r->total) {
        fprintf(stderr, "step %llu/%lld epoch %llu loss %.4f%s img/s %.1f ETA %s\n",
                (unsigned long long)t->step, (long long)r->total, (unsigned long long)t->ep + 1,
                (double)t->loss, terms, t->ips, eta);
    }
}

/* Ctrl-C: on one rank at once; in a --dist run only once every rank knows it
 * (the stop flag travels with the step's all-reduce), so all end after one step. */
static int stopping(const run *r) { return r->dist->on ? r->stop : g_stop; }

/* --preview-every: rank 0 samples the grid from the EMA weights between steps (the
 * training state is untouched, so the ranks stay in step). A failed preview is said
 * and training goes on. */
static int preview(run *r, uint64_t step)
{
    if (!r->o->preview_every || step % (uint64_t)r->o->preview_every != 0 || r->dist->rank != 0)
        return 0;
    if (r->tty)
        fputc('\n', stderr);
    if (cli_preview(r->m, r->preview_n, r->preview_cols, 20, 2.0f, 0, r->o->preview) == 0)
        fprintf(stderr, "step %llu: preview %s\n", (unsigned long long)step, r->o->preview);
    return 0;
}

/* The model's step on x0: an autoencoder's (REC + beta KL, labels unused) or a flow
 * model's. */
static fm_status model_step(run *r, uint64_t step, float *loss)
{
    if (!r->ae)
        return fm_train_step(r->m, r->to, &r->x0, r->cond ? r->yb : NULL, step, loss);
    fm_status s = fm_vae_train_step(r->m, r->to, r->beta, &r->x0, step, &r->vl);
    *loss = r->vl.loss;
    return s;
}

/* The gathered batch onto the backend (under --vae: encoded, z = k mu, into x0), then
 * the step. Step r->timed of a latent run is timed in its two parts, synchronised,
 * so that encoding on the fly can be weighed against pre-encoded latents. */
static fm_status upload_and_step(run *r, uint64_t step, float *loss)
{
    const int timed = r->vae && (int64_t)step == r->timed && r->dist->rank == 0;
    double t0 = cli_now(), t1 = t0;
    if (r->zc) { /* latents encoded once: xb holds this batch's */
        fm_status u = fm_upload(r->be, &r->x0, r->xb);
        return u == FM_OK ? model_step(r, step, loss) : u;
    }
    fm_status s = fm_upload(r->be, &r->xi, r->xb);
    if (s == FM_OK && r->vae)
        s = fm_vae_encode(r->vae->m, &r->vae->m->flat, &r->xi, r->vae->scale, &r->x0);
    if (s == FM_OK && timed && (s = fm_sync(r->be)) == FM_OK)
        t1 = cli_now();
    if (s == FM_OK)
        s = model_step(r, step, loss); /* its loss is downloaded: synchronised */
    if (s == FM_OK && timed)
        fprintf(stderr, "%sencode %.3f s per batch of %d (upload included), step %.3f s\n",
                r->tty ? "\n" : "", t1 - t0, r->lb, cli_now() - t1);
    return s;
}

/* One optimizer step on the gathered batch, its report and the periodic
 * checkpoint; nonzero stops the run. */
static int step_batch(run *r)
{
    uint64_t step = r->st.step + 1;
    float loss = 0;
    train_dist_request_stop(r->dist, g_stop);
    fm_status s = upload_and_step(r, step, &loss);
    /* fm_train_step checks the loss and gradients before updating, so on
     * FM_ERR_NUMERIC the weights are still those of the previous step. */
    if (s == FM_ERR_NUMERIC && r->o->skip_nonfinite) {
        r->skipped++;
        if (r->dist->rank == 0)
            fprintf(stderr, "%sskipped %s\n", r->tty ? "\n" : "", r->be->err);
    } else if (s == FM_ERR_NUMERIC) {
        /* Keep the last good checkpoint and weights on disk untouched. */
        return cli_error("%s; stopping without saving (the last checkpoint, if any, is "
                         "intact; try a lower --lr, or --skip-nonfinite)",
                         r->be->err);
    } else if (s != FM_OK) {
        return cli_error("step %llu: %s", (unsigned long long)step, r->be->err);
    }
    tick t = advance(r, step, loss, s == FM_OK);
    t.vl = r->vl;
    int rc = train_dist_after_step(r->dist, r->m, step, &r->stop);
    if (rc != 0)
        return rc;
    progress(r, &t);
    if (r->st.cursor == 0 && r->dist->rank == 0) {
        fprintf(stderr, "%sepoch %llu: mean loss %.4f over %lld steps\n", r->tty ? "\n" : "",
                (unsigned long long)t.ep + 1, t.mean, (long long)r->st.epoch_steps);
    }
    if (r->st.cursor == 0) {
        r->st.epoch_loss = 0;
        r->st.epoch_steps = 0;
    }
    if ((rc = preview(r, step)) != 0)
        return rc;
    if (r->o->ckpt && step % (uint64_t)r->o->ckpt_every == 0 && (int64_t)step < r->total &&
        !stopping(r)) {
        rc = save_all(r, 0);
        if (rc != 0)
            return rc;
        if (r->log)
            fflush(r->log);
    }
    return 0;
}

/* The command that goes on from the checkpoint, which records the data, the model,
 * the recipe and the target step: only the outputs are said. */
static void print_resume(const opts *o)
{
    fprintf(stderr, "resume with: fmrt %s --resume %s --out %s%s%s", o->cmd, o->ckpt, o->out,
            o->log ? " --log " : "", o->log ? o->log : "");
    /* The numbers are the same only on the same backend and thread count. */
    if (o->backend)
        fprintf(stderr, " --backend %s", o->backend);
    if (cli_threads > 0)
        fprintf(stderr, " --threads %d", cli_threads);
    fputc('\n', stderr);
}

/* The run ended (target reached or Ctrl-C): the final files and the summary. Exit
 * status 130 (128 + SIGINT, what a shell reports for a command Ctrl-C ended) after
 * an interruption that saved cleanly, so that "train ... && sample ..." stops there. */
static int finish(run *r)
{
    const opts *o = r->o;
    if (r->tty && r->st.cursor != 0)
        fputc('\n', stderr);
    int rc = save_all(r, 1);
    const int interrupted = stopping(r);
    if (rc != 0 || r->dist->rank != 0)
        return rc != 0 ? rc : interrupted ? CLI_INTERRUPTED : 0;
    double el = cli_now() - r->t0;
    int64_t done = (int64_t)r->st.step - r->first;
    fprintf(stderr, "%s at step %llu: %lld steps in %.1f s (%.1f img/s); wrote %s%s%s\n",
            interrupted ? "interrupted" : "done", (unsigned long long)r->st.step, (long long)done, el,
            el > 0 ? (double)done * r->B / el : 0.0, o->out, o->ckpt ? " and " : "",
            o->ckpt ? o->ckpt : "");
    if (r->skipped)
        fprintf(stderr,
                "skipped %lld step%s with a non-finite loss or gradient "
                "(--skip-nonfinite)\n",
                (long long)r->skipped, r->skipped == 1 ? "" : "s");
    if (interrupted && o->ckpt)
        print_resume(o);
    else if (interrupted)
        fprintf(stderr, "no --ckpt given: the optimizer state was not saved\n");
    return interrupted ? CLI_INTERRUPTED : 0;
}

/* "lr 0.0003 cosine to 0 at step 3000, warmup 100" for the run's first line. */
static const char *describe_lr(const fm_train_opts *o, char *buf, size_t len)
{
    int k = snprintf(buf, len, "lr %g", (double)o->lr);
    if (o->lr_schedule == FM_LR_COSINE && k > 0 && (size_t)k < len)
        k += snprintf(buf + k, len - (size_t)k, " cosine to 0 at step %llu",
                      (unsigned long long)o->decay_steps);
    if (o->warmup && k > 0 && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, "%s warmup %llu", o->lr_schedule ? "," : "",
                 (unsigned long long)o->warmup);
    return buf;
}

/* What the run's first line says the model is: "conditional (the labels' classes;
 * ...)", "an autoencoder (KL weight 0.001)", "unconditional on 4x7x7 latents of F
 * (scale 0.81)". */
static const char *describe_kind(const session *s, char *buf, size_t len)
{
    int k = snprintf(buf, len, "%s%s", s->cfg.num_classes > 0 ? "conditional" : "unconditional",
                     s->auto_classes ? " (the labels' classes; --classes 0: unconditional)" : "");
    if (s->text)
        k = snprintf(buf, len, "text-conditioned (%s tokens, context %d, encoder %s%s)",
                     cli_tok_name(s->cfg.text_tokenizer), s->cfg.text_ctx,
                     s->frozen ? "frozen from " : "trained", s->frozen ? s->text_from : "");
    if (s->ae)
        snprintf(buf, len, "an autoencoder (KL weight %g)", (double)s->beta);
    if (s->latent && k > 0 && (size_t)k < len)
        snprintf(buf + k, len - (size_t)k, " on %dx%dx%d latents of %s (scale %g)",
                 s->cfg.in_channels, s->cfg.image, s->cfg.image, s->vae.path,
                 (double)s->vae.scale);
    return buf;
}

/* Steps s->st.step + 1 .. s->total (or up to Ctrl-C), then the final files; on
 * success s->st is the state written. */
/* --vae without --flip: every image of the training set encoded once (z = k mu, in
 * batches of lb on the run's backend) into host memory, so that a step uploads its
 * latents instead of encoding its images again each epoch. Timed, against the cost of
 * encoding at each step (docs: README, "Latent flow matching"). */
static int cache_latents(run *r)
{
    int64_t ls[4];
    fm_vae_latent_shape(&r->vae->m->cfg, 1, ls);
    r->zper = (size_t)(ls[1] * ls[2] * ls[3]);
    size_t bytes;
    if (!fm_mul_size((size_t)r->ds->n, r->zper * sizeof(float), &bytes) ||
        !(r->zc = malloc(bytes)))
        return cli_error("cannot hold the %d images' latents in memory (%zu floats each): "
                         "give --encode-each-step", r->ds->n, r->zper);
    const double t0 = cli_now();
    const size_t frame = (size_t)r->C * (size_t)r->HW;
    uint32_t idx[FM_MAX_BATCH];
    for (int at = 0; at < r->ds->n; at += r->lb) {
        const int n = r->ds->n - at < r->lb ? r->ds->n - at : r->lb;
        for (int i = 0; i < n; i++)
            idx[i] = (uint32_t)(at + i);
        if (cli_data_rows(r->data, idx, n, r->pb, NULL))
            return 1;
        cli_pixels(r->xb, r->pb, (size_t)n * frame);
        const fm_tensor xs = fm_tensor_slice(r->xi, 0, n), zs = fm_tensor_slice(r->x0, 0, n);
        fm_status s = fm_upload(r->be, &xs, r->xb);
        if (s == FM_OK)
            s = fm_vae_encode(r->vae->m, &r->vae->m->flat, &xs, r->vae->scale, &zs);
        if (s == FM_OK)
            s = fm_download(r->be, r->zc + (size_t)at * r->zper, &zs);
        if (s != FM_OK)
            return cli_error("encoding the training set: %s", r->be->err);
    }
    if (r->dist->rank == 0)
        fprintf(stderr, "encoded the %d training images once: %.1f s (%.0f img/s), %zu MiB of "
                "latents in memory\n", r->ds->n, cli_now() - t0, r->ds->n / (cli_now() - t0),
                bytes >> 20);
    return 0;
}

static int train(session *s)
{
    run r = {.o = &s->o,
             .m = s->m,
             .be = &s->be,
             .ds = &s->ds,
             .data = &s->data,
             .to = &s->st.opts,
             .log = s->log,
             .st = s->st,
             .B = (int)s->st.batch,
             .C = s->ds.c, /* the model's in_channels, or under --vae its autoencoder's */
             .HW = s->ds.h * s->ds.w,
             .cond = fm_config_conditional(&s->m->cfg),
             .ids = s->ids,
             .wy = fm_config_cond_width(&s->m->cfg),
             .ae = s->ae,
             .beta = s->beta,
             .vae = s->latent ? &s->vae : NULL,
             .lb = s->lb,
             .preview_n = s->preview_n,
             .preview_cols = s->preview_cols,
             .dist = &s->dist,
             .total = s->total,
             .spe = s->spe};
    char lr[96], kind[FM_TEXT_MAX + 160];
    int rc = alloc_run(&r, &s->scratchmem);
    if (rc == 0 && r.vae && !r.o->flip && !r.o->encode_each_step)
        rc = cache_latents(&r);
    if (rc != 0)
        goto out;
    r.tty = isatty(fileno(stderr));
    r.epochs = (r.total + r.spe - 1) / r.spe;
    r.first = (int64_t)r.st.step;
    /* The second step when there is one: the first also loads and warms the kernels. */
    r.timed = r.first + 2 <= r.total ? r.first + 2 : r.first + 1;
    r.t0 = cli_now();
    r.tlast = r.t0;
    if (r.dist->rank == 0 && r.dist->on)
        fprintf(stderr, "data parallel: %d rank%s, %d rows each of every batch of %d\n",
                r.dist->size, r.dist->size == 1 ? "" : "s", r.lb, r.B);
    if (r.dist->rank == 0)
        fprintf(stderr,
                "training %s: %lld params, %d images, batch %d, %lld steps/epoch, "
                "steps %lld..%lld, %s, backend %s\n",
                describe_kind(s, kind, sizeof kind), (long long)r.m->nfloats, r.ds->n, r.B,
                (long long)r.spe, (long long)r.first + 1, (long long)r.total,
                describe_lr(r.to, lr, sizeof lr), fm_backend_describe(r.be));
    while ((int64_t)r.st.step < r.total && !stopping(&r)) {
        if ((rc = gather_batch(&r)) != 0 || (rc = step_batch(&r)) != 0)
            goto out;
    }
    rc = finish(&r);
    if (rc == 0 || rc == CLI_INTERRUPTED)
        s->st = r.st;
out:
    free(r.zc);
    free(r.xb);
    free(r.yb);
    free(r.perm);
    free(r.pb);
    return rc;
}

/* The autoencoder presets "vae, vae-cifar, ..." for messages. */
static const char *ae_presets(void)
{
    static char buf[160];
    size_t k = 0;
    const fm_arch *a = fm_arch_find("vae");
    for (const fm_preset *p = a ? a->presets : NULL; p && p->name && k < sizeof buf; p++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, k ? ", %s" : "%s", p->name);
    return buf;
}

/* 1 when the flags ask for an autoencoder: fmrt train-vae (ae_cmd), or a --preset of
 * arch vae. */
static int wants_ae(const cli_config_opts *o, int ae_cmd)
{
    fm_config c;
    return ae_cmd || (o->preset && fm_config_preset(&c, o->preset) == FM_OK && fm_vae_is(&c));
}

/* The flags' config: a velocity model's (cli_build_config, which builds nothing else),
 * or an autoencoder's: its preset, then the --config settings. --classes is left to
 * check_kind, which refuses it by name. */
static int build_config(const cli_config_opts *o, int ae_cmd, fm_config *cfg)
{
    const char *preset = o->preset;
    if (!wants_ae(o, ae_cmd))
        return cli_build_config(o, cfg);
    if (fm_config_preset(cfg, preset) != FM_OK || !fm_vae_is(cfg))
        return cli_error("--preset %s is not an autoencoder's (have: %s)", preset, ae_presets());
    if (o->arch)
        return cli_error("--arch %s: an autoencoder is arch vae, set by its --preset (%s)",
                         o->arch, ae_presets());
    return cli_config_sets(o, cfg);
}

/* --resume with the original command's --preset/--config/--classes: they must describe
 * the checkpoint's model; the first field that differs is named. */
static int same_model(session *s)
{
    const opts *o = &s->o;
    fm_config flags;
    char err[256];
    if (!o->cfg.given)
        return 0;
    cli_config_opts c = o->cfg; /* the preset a new run's recipe chose, as it did */
    if (!c.preset)
        c.preset = cli_train_recipe_preset(o);
    if (wants_ae(&c, o->ae_cmd) ? build_config(&c, o->ae_cmd, &flags) != 0
                                 : cli_text_build_config(&c, o->captions != NULL, &flags) != 0)
        return 1;
    /* What a new run took from its data unless the flags said. */
    if (!o->cfg.have_classes)
        flags.num_classes = s->w.cfg.num_classes;
    /* ... and from --text F or --vocab F: the encoder's fields, unless --config said. */
    if (!cli_config_sets_text(&o->cfg) && s->w.cfg.text_depth && flags.text_depth) {
        const fm_config *t = &s->w.cfg;
        flags.text_vocab = t->text_vocab, flags.text_ctx = t->text_ctx;
        flags.text_width = t->text_width, flags.text_depth = t->text_depth;
        flags.text_heads = t->text_heads, flags.text_ff = t->text_ff;
        flags.text_tokenizer = t->text_tokenizer;
    }
    if (!config_given(&o->cfg, "in_channels"))
        flags.in_channels = s->w.cfg.in_channels;
    if (!config_given(&o->cfg, "image"))
        flags.image = s->w.cfg.image;
    if (fm_weights_check_config(&s->w, &flags, err, sizeof err) != FM_OK)
        return cli_error("--resume %s: the model flags describe another model (%s); drop them "
                         "or resume the run they describe",
                         o->resume, err + (strncmp(err, "config mismatch: ", 17) ? 0 : 17));
    return 0;
}

/* One line "key=value" of a recorded text into buf (len bytes); 0 when absent. */
static int text_value(const fm_text *t, const char *key, char *buf, size_t len)
{
    const size_t kl = strlen(key);
    for (size_t at = 0; t->s && at < t->n;) {
        const char *nl = memchr(t->s + at, '\n', t->n - at);
        const size_t end = nl ? (size_t)(nl - t->s) : t->n;
        if (end - at > kl && memcmp(t->s + at, key, kl) == 0 && t->s[at + kl] == '=' &&
            end - at - kl - 1 < len) {
            snprintf(buf, len, "%.*s", (int)(end - at - kl - 1), t->s + at + kl + 1);
            return 1;
        }
        at = end + 1;
    }
    return 0;
}

/* A resume that names no data: the checkpoint's (text.data), which must still be there. */
static int recorded_data(session *s)
{
    opts *o = &s->o;
    struct stat sb;
    if (o->data || o->images)
        return 0;
    if (text_value(&s->st.data, "data", s->rec_data, sizeof s->rec_data))
        o->data = s->rec_data;
    else if (text_value(&s->st.data, "images", s->rec_data, sizeof s->rec_data) &&
             text_value(&s->st.data, "labels", s->rec_labels, sizeof s->rec_labels))
        o->images = s->rec_data, o->labels = s->rec_labels;
    else
        return cli_error("%s records no training data (an older checkpoint): give --data DIR",
                         o->resume);
    const char *gone = stat(s->rec_data, &sb) != 0    ? s->rec_data
                       : o->labels && stat(o->labels, &sb) != 0 ? o->labels
                                                                : NULL;
    if (gone)
        return cli_error("the checkpoint's training data %s is gone (%s): give --data DIR or "
                         "--images/--labels",
                         gone, strerror(errno));
    return 0;
}

/* A resume augments as its run did (text.data's flip=1). */
static int recorded_flip(session *s)
{
    char v[8];
    const int was = text_value(&s->st.data, "flip", v, sizeof v) && strcmp(v, "1") == 0;
    if (s->o.flip && !was)
        return cli_error("--flip: the checkpoint's run did not flip; a resumed run keeps its "
                         "data order and augmentation");
    s->o.flip = was;
    return 0;
}

/* A resume from a pack reads the pack its run did: the CRC text.data records. */
static int same_pack(const session *s)
{
    char v[16], now[16];
    if (!s->data.pack || !text_value(&s->st.data, "pack_crc", v, sizeof v))
        return 0;
    snprintf(now, sizeof now, "%08x", (unsigned)cli_pack_crc(s->data.pack));
    if (strcmp(v, now) != 0)
        return cli_error("the pack's CRC is %s, the checkpoint's run read a pack of CRC %s: "
                         "resume with the same data",
                         now, v);
    return 0;
}

/* The fewest significant digits (6..9) that give f back when read as a float: 0.001,
 * not 0.00100000005. */
static int float_digits(float f)
{
    char buf[32];
    for (int d = 6; d < 9; d++) {
        snprintf(buf, sizeof buf, "%.*g", d, (double)f);
        if (strtof(buf, NULL) == f)
            return d;
    }
    return 9;
}

/* text.data: the data's absolute paths (the flags', or on a resume without them the
 * checkpoint's), flip=1, a pack's CRC, and an autoencoder's KL weight (kl_weight=, so
 * that a resume keeps it; fm_ckpt_state has no field for it). Rebuilt by every run,
 * so that a changed --kl-weight is what the next resume takes. */
static int record_data(session *s)
{
    const opts *o = &s->o;
    char a[PATH_MAX], b[PATH_MAX];
    int k;
    if (o->data)
        k = realpath(o->data, a) ? snprintf(s->data_text, sizeof s->data_text, "data=%s", a) : -1;
    else
        k = realpath(o->images, a) && realpath(o->labels, b)
                ? snprintf(s->data_text, sizeof s->data_text, "images=%s\nlabels=%s", a, b)
                : -1;
    if (k > 0 && o->flip && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k, "\nflip=1");
    if (k > 0 && s->data.pack && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k, "\npack_crc=%08x",
                      (unsigned)cli_pack_crc(s->data.pack));
    if (k > 0 && s->ae && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k, "\nkl_weight=%.*g",
                      float_digits(s->beta), (double)s->beta);
    /* A text model: its captions (and their CRC), CLIP's vocabulary, a frozen encoder. */
    if (k > 0 && s->text && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k,
                      "\ncaptions=%s\ncaptions_crc=%08x", s->captions, (unsigned)s->caps.crc);
    if (k > 0 && s->text && s->vocab[0] && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k, "\nvocab=%s", s->vocab);
    if (k > 0 && s->held[0] && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k, "\nheld_out=%s", s->held);
    if (k > 0 && s->frozen && (size_t)k < sizeof s->data_text)
        k += snprintf(s->data_text + k, sizeof s->data_text - (size_t)k,
                      "\ntext_frozen=1\ntext_from=%s", s->text_from);
    if (k < 0 || (size_t)k >= sizeof s->data_text)
        return cli_error("cannot record the data's path (%s)",
                         k < 0 ? strerror(errno) : "too long");
    s->st.data.s = s->data_text;
    s->st.data.n = (size_t)k;
    return 0;
}

/* --class-names a,b,c or @FILE (a name per line) into class_text: num_classes valid
 * names (fm_class_name_ok), one per line. */
static int parse_class_names(session *s)
{
    const char *arg = s->o.class_names;
    int lines = s->data.names[0] != 0;
    for (const char *c = s->data.names; *c; c++)
        lines += *c == '\n';
    /* The set's own names (CIFAR-10's batches.meta.txt), when they name the classes. */
    if (!arg && !s->o.resume && lines && lines == s->cfg.num_classes) {
        s->class_len = strlen(s->data.names);
        memcpy(s->class_text, s->data.names, s->class_len);
        return 0;
    }
    if (!arg)
        return 0;
    return cli_class_names(arg, s->cfg.num_classes, s->class_text, sizeof s->class_text,
                           &s->class_len);
}

/* A path of at most PATH_MAX bytes into buf, absolute when realpath resolves it. */
static void absolute(const char *path, char *buf)
{
    char a[PATH_MAX];
    const char *src = realpath(path, a) ? a : path;
    size_t n = strlen(src);
    n = n < PATH_MAX ? n : PATH_MAX - 1;
    memmove(buf, src, n);
    buf[n] = 0;
}

/* --captions F as a file: F, or a folder's train-captions.txt (into buf). */
static const char *captions_file(const char *path, char *buf, size_t len)
{
    struct stat sb;
    if (!path || stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return path;
    snprintf(buf, len, "%s/train-captions.txt", path);
    return buf;
}

/* A resumed text model's recorded captions, vocabulary and frozen encoder
 * (record_data); --captions / --vocab replace the recorded files (the captions' CRC
 * is checked in open_text). */
static int recorded_text(session *s)
{
    opts *o = &s->o;
    char v[8];
    struct stat sb;
    if (s->cfg.text_depth == 0) {
        if (o->captions || o->vocab)
            return cli_error("%s: %s is not a text model (it has no text encoder)",
                             o->captions ? "--captions" : "--vocab", o->resume);
        return 0;
    }
    s->frozen = cli_text_value(&s->st.data, "text_frozen", v, sizeof v) && strcmp(v, "1") == 0;
    if (s->frozen && !cli_text_value(&s->st.data, "text_from", s->text_from, sizeof s->text_from))
        snprintf(s->text_from, sizeof s->text_from, "?");
    if (!o->vocab && cli_text_value(&s->st.data, "vocab", s->vocab, sizeof s->vocab)) {
        if (stat(s->vocab, &sb) != 0)
            return cli_error("the checkpoint's vocabulary %s is gone (%s): give --vocab FILE",
                             s->vocab, strerror(errno));
        o->vocab = s->vocab;
    }
    if (o->captions)
        return 0;
    if (!cli_text_value(&s->st.data, "captions", s->captions, sizeof s->captions))
        return cli_error("%s records no captions: give --captions FILE", o->resume);
    if (stat(s->captions, &sb) != 0)
        return cli_error("the checkpoint's captions %s are gone (%s): give --captions FILE",
                         s->captions, strerror(errno));
    o->captions = s->captions;
    return 0;
}

/* --text F: F's text encoder config (its tensors are copied by new_model). */
static int frozen_config(session *s)
{
    const opts *o = &s->o;
    char msg[256];
    if (cli_config_sets_text(&o->cfg))
        return cli_error("--config text_*: --text takes the encoder's config from %s", o->text);
    if (cli_load_weights(o->text, &s->tw, NULL, &s->twmem))
        return 1;
    const fm_config *t = &s->tw.cfg;
    if (t->text_depth == 0)
        return cli_error("--text %s has no text encoder (text_depth=0): give a text model's "
                         "weights or a CLIP text encoder (fmrt convert)",
                         o->text);
    if (cli_check_weights(o->text, &s->tw, FM_MODE_SAMPLE, 0))
        return 1;
    s->cfg.text_vocab = t->text_vocab, s->cfg.text_ctx = t->text_ctx;
    s->cfg.text_width = t->text_width, s->cfg.text_depth = t->text_depth;
    s->cfg.text_heads = t->text_heads, s->cfg.text_ff = t->text_ff;
    s->cfg.text_tokenizer = t->text_tokenizer;
    if (fm_config_validate(&s->cfg, msg, sizeof msg) != FM_OK)
        return cli_error("config with the text encoder of %s: %s", o->text, msg);
    absolute(o->text, s->text_from);
    /* A CLIP-BPE encoder fmrt trained records its vocabulary: the default --vocab. */
    fm_ckpt_state st;
    char err[256];
    if (!o->vocab && t->text_tokenizer == FM_TOK_CLIP_BPE &&
        fm_ckpt_state_read(&s->tw, &st, err, sizeof err) == FM_OK)
        cli_text_value(&st.data, "vocab", s->vocab, sizeof s->vocab);
    return 0;
}

/* A new run's config: an autoencoder's, a velocity model's, or a text model's (the
 * preset with the default encoder, --text F's, or with --vocab CLIP's tokenizer). */
static int new_config(session *s)
{
    const opts *o = &s->o;
    char msg[256];
    if (wants_ae(&o->cfg, o->ae_cmd) ||
        !(o->captions || o->text || o->vocab || cli_config_sets_text(&o->cfg)))
        return build_config(&o->cfg, o->ae_cmd, &s->cfg);
    int rc = cli_text_build_config(&o->cfg, o->captions != NULL, &s->cfg);
    if (rc != 0 || s->cfg.text_depth == 0)
        return rc;
    if (o->text)
        return frozen_config(s);
    if (!o->vocab || config_given(&o->cfg, "text_tokenizer"))
        return 0;
    /* --vocab on a new encoder: CLIP's tokenizer, the file's vocabulary. */
    fm_config c = s->cfg;
    c.text_tokenizer = FM_TOK_CLIP_BPE;
    c.text_vocab = config_given(&o->cfg, "text_vocab") ? s->cfg.text_vocab : 0;
    if (cli_tok_open(&s->tok, &c, o->vocab))
        return 1;
    s->cfg.text_tokenizer = FM_TOK_CLIP_BPE;
    s->cfg.text_vocab = s->tok.bpe.vocab;
    if (fm_config_validate(&s->cfg, msg, sizeof msg) != FM_OK)
        return cli_error("config with the vocabulary of %s: %s", o->vocab, msg);
    return 0;
}

static int held_out(session *s);

/* A text model's captions, read, counted against the training set, checked against a
 * resumed run's, and tokenized once into s->ids [ds.n, text_ctx]. */
static int open_text(session *s)
{
    const opts *o = &s->o;
    char buf[PATH_MAX + 32], crc[16], now[16];
    if (!s->text)
        return 0;
    const char *cap = captions_file(o->captions, buf, sizeof buf);
    if (cli_lines_read("--captions", cap, 1 << 30, &s->caps))
        return 1;
    if (s->caps.n != s->data.ds.n)
        return cli_error("--captions %s has %d lines, the training data has %d images: one "
                         "caption per image, in the data's order",
                         cap, s->caps.n, s->data.ds.n);
    absolute(cap, s->captions);
    snprintf(now, sizeof now, "%08x", (unsigned)s->caps.crc);
    if (o->resume && cli_text_value(&s->st.data, "captions_crc", crc, sizeof crc) &&
        strcmp(crc, now) != 0)
        return cli_error("--captions %s: CRC %s, the checkpoint's run read captions of CRC %s: "
                         "resume with the same captions",
                         cap, now, crc);
    const char *vocab = o->vocab ? o->vocab : s->vocab[0] ? s->vocab : NULL;
    if (!s->tok.t.kind && cli_tok_open(&s->tok, &s->cfg, vocab))
        return 1;
    if (s->cfg.text_tokenizer == FM_TOK_CLIP_BPE)
        absolute(vocab, s->vocab);
    else
        s->vocab[0] = 0;
    const size_t L = (size_t)s->cfg.text_ctx;
    int cut = 0, first = -1;
    s->ids = malloc((size_t)s->ds.n * L * sizeof(int32_t));
    if (!s->ids)
        return cli_error("cannot hold the %d captions' token ids in memory", s->ds.n);
    const double t0 = cli_now();
    if (cli_tok_rows(&s->tok, &s->cfg, s->caps.line, s->ds.n, s->ids, &cut, &first) ||
        held_out(s))
        return 1;
    if (s->dist.rank == 0) {
        fprintf(stderr, "captions %s: %d tokenized (%s, context %d) in %.2f s", s->captions,
                s->ds.n, cli_tok_name(s->cfg.text_tokenizer), s->cfg.text_ctx, cli_now() - t0);
        if (cut)
            fprintf(stderr, "; %d longer than the context were cut (the first: line %d)", cut,
                    first + 1);
        fputc('\n', stderr);
    }
    return 0;
}

/* held-out.txt in the folder of path (path itself when a folder) into buf; 1 when it
 * exists. */
static int held_file(const char *path, char *buf, size_t len)
{
    struct stat sb;
    if (!path)
        return 0;
    const int dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    const char *slash = strrchr(path, '/');
    const int n = dir ? (int)strlen(path) : slash ? (int)(slash - path) : 1;
    snprintf(buf, len, "%.*s/held-out.txt", n, dir || slash ? path : ".");
    return stat(buf, &sb) == 0;
}

/* A text run on colour MNIST made with --hold-out (docs/data-pack.md): the pairs of
 * the data's (else the captions') folder's held-out.txt, recorded as text.data's
 * held_out= for fmrt eval --prompts; a resume keeps its record. */
static int held_out(session *s)
{
    char path[PATH_MAX + 32];
    uint8_t held[CLI_NPAIRS] = {0};
    cli_lines l;
    if (s->o.resume) {
        if (!cli_text_value(&s->st.data, "held_out", s->held, sizeof s->held))
            s->held[0] = 0;
        return 0;
    }
    if (!held_file(s->o.data, path, sizeof path) && !held_file(s->o.captions, path, sizeof path))
        return 0;
    if (cli_lines_read("held-out pairs", path, CLI_NPAIRS, &l))
        return 1;
    int rc = 0;
    for (int i = 0; i < l.n && rc == 0; i++)
        if (l.line[i][strspn(l.line[i], " \t")])
            rc = cli_colour_pairs(path, l.line[i], held);
    cli_lines_free(&l);
    cli_colour_pairs_text(held, ",", s->held, sizeof s->held);
    if (rc == 0 && s->held[0] && s->dist.rank == 0)
        fprintf(stderr, "held-out pairs (%s, recorded for fmrt eval --prompts): %s\n", path,
                s->held);
    return rc;
}

/* The text.* parameters (the encoder, not text_proj): their index range in m. */
static int text_range(const fm_model *m, int *first, int *count)
{
    *first = -1;
    *count = 0;
    for (int i = 0; i < m->nparams; i++)
        if (strncmp(m->params[i].name, "text.", 5) == 0) {
            if (*first < 0)
                *first = i;
            if (i != *first + *count)
                return cli_error("the model's text.* parameters are not one range");
            ++*count;
        }
    return *first < 0 ? cli_error("the model has no text.* parameters") : 0;
}

/* --text F: F's text.* tensors into the new model's raw and EMA weights, frozen. */
static int copy_frozen(session *s)
{
    fm_model *m = s->m;
    int first, count;
    if (text_range(m, &first, &count))
        return 1;
    for (int i = first; i < first + count; i++) {
        const fm_param *p = &m->params[i];
        fm_wtensor t;
        const int k = fm_weights_find(&s->tw, p->name);
        if (k < 0 || fm_weights_tensor(&s->tw, k, &t) != FM_OK)
            return cli_error("--text %s lacks the tensor %s", s->o.text, p->name);
        if (t.dtype != FM_F32 || t.bytes != fm_tensor_bytes(&p->t))
            return cli_error("--text %s: %s is %s of %zu bytes, the model's is f32 of %zu",
                             s->o.text, p->name, fm_dtype_name(t.dtype), t.bytes,
                             fm_tensor_bytes(&p->t));
        const fm_tensor raw = fm_model_view(m, &m->flat, i), ema = fm_model_view(m, &m->ema, i);
        if (fm_upload(&s->be, &raw, t.data) != FM_OK || fm_upload(&s->be, &ema, t.data) != FM_OK)
            return cli_error("--text: %s", s->be.err);
    }
    m->frozen_first = first;
    m->frozen_count = count;
    s->frozen = 1;
    cli_mem_free(&s->twmem);
    return 0;
}

/* The model's config: the checkpoint's with --resume, else the flags'. */
static int open_config(session *s)
{
    const opts *o = &s->o;
    char err[768];
    int rc;
    if (o->resume) {
        if (cli_load_weights(o->resume, &s->w, NULL, &s->ckmem))
            return 1;
        if (s->w.kind != FM_WEIGHTS_KIND_CHECKPOINT)
            return cli_error("%s is a weights file, not a checkpoint: --resume needs the file "
                             "written by --ckpt",
                             o->resume);
        s->cfg = s->w.cfg;
        /* The run's own settings come from the checkpoint; changing the ones the
         * data order depends on would not be a resume. State and tensors are checked
         * before the data is read or anything is sized by the file's config. */
        if (fm_ckpt_state_read(&s->w, &s->st, err, sizeof err) != FM_OK)
            return cli_error("%s: %s", o->resume, err);
        if ((rc = cli_check_weights(o->resume, &s->w, FM_MODE_TRAIN, 0)) != 0)
            return rc;
        if ((rc = same_model(s)) != 0 || (rc = recorded_data(s)) != 0 ||
            (rc = recorded_flip(s)) != 0 || (rc = recorded_text(s)) != 0)
            return rc;
    } else if ((rc = new_config(s)) != 0) {
        return rc;
    }
    s->text = s->cfg.text_depth > 0;
    return 0;
}

/* The run's KL weight: --kl-weight, else the checkpoint's (text.data's kl_weight=,
 * record_data), else 1e-3. */
static int kl_weight(session *s)
{
    char v[64], *end;
    s->beta = (float)s->o.kl_weight;
    if (s->o.have_kl || !s->o.resume || !text_value(&s->st.data, "kl_weight", v, sizeof v))
        return 0;
    const double b = strtod(v, &end);
    if (end == v || *end || !(b >= 0 && b <= 1e6))
        return cli_error("%s: recorded kl_weight=%s is not in [0, 1e6]", s->o.resume, v);
    s->beta = (float)b;
    return 0;
}

/* What the model's kind takes and refuses, decided here once (fm_vae_is): an
 * autoencoder is unconditional, has no samples to preview and trains on images; a flow
 * model has no KL term; a latent model's preview would need decoding. */
static int check_kind(session *s)
{
    const opts *o = &s->o;
    s->ae = fm_vae_is(&s->cfg);
    if (o->ae_cmd && !s->ae)
        return cli_error("%s holds a %s, not an autoencoder: resume it with fmrt train", o->resume,
                         fm_arch_by_id(s->cfg.arch)->name);
    if (s->ae && (o->cfg.have_classes || o->class_names))
        return cli_error("%s: an autoencoder is unconditional",
                         o->cfg.have_classes ? "--classes" : "--class-names");
    if (s->ae && o->preview_every)
        return cli_error("--preview-every: an autoencoder samples nothing to preview (fmrt "
                         "train-vae writes no previews)");
    if (s->ae && o->vae)
        return cli_error("--vae: an autoencoder trains on images, not on another's latents");
    if (s->ae && (o->captions || o->text || o->vocab))
        return cli_error("%s: an autoencoder is unconditional (text prompts condition flow "
                         "models)", o->captions ? "--captions" : o->text ? "--text" : "--vocab");
    if (!s->text && o->captions)
        return cli_error("--captions: --config text_depth=0 leaves the model without a text "
                         "encoder");
    if (!s->text && o->vocab)
        return cli_error("--vocab is a text model's (CLIP's tokenizer): give --captions FILE");
    if (s->text && !o->captions)
        return cli_error("a text model (--config text_*) trains on captions: give --captions "
                         "FILE");
    if (!s->ae && o->have_kl)
        return cli_error("--kl-weight is an autoencoder's (fmrt train-vae, or --preset %s)",
                         ae_presets());
    if (!o->vae && !s->st.vae_crc && o->encode_each_step)
        return cli_error("--encode-each-step is for a model on latents (--vae F)");
    if ((o->vae || s->st.vae_crc) && o->preview_every)
        return cli_error("--preview-every: previews of a model on latents (decoded by its "
                         "autoencoder) are not drawn yet; sample its weights instead");
    return s->ae ? kl_weight(s) : 0;
}

/* A new latent run's config: in_channels and image of the autoencoder's latents
 * (cli_vae_latent_config); --config may say them only as they are. */
static int latent_config(session *s)
{
    fm_config want = s->cfg;
    char msg[200];
    cli_vae_latent_config(&s->vae, &want);
    if (config_given(&s->o.cfg, "in_channels") && s->cfg.in_channels != want.in_channels)
        return cli_error("--config in_channels=%d: the latents of %s have %d channels",
                         s->cfg.in_channels, s->vae.path, want.in_channels);
    if (config_given(&s->o.cfg, "image") && s->cfg.image != want.image)
        return cli_error("--config image=%d: the latents of %s are %dx%d", s->cfg.image,
                         s->vae.path, want.image, want.image);
    s->cfg = want;
    if (fm_config_validate(&s->cfg, msg, sizeof msg) != FM_OK)
        return cli_error("config for the %dx%dx%d latents of %s: %s", want.in_channels,
                         want.image, want.image, s->vae.path, msg);
    return 0;
}

/* --vae F (a new run), or the autoencoder a resumed latent run recorded (F, or --vae
 * naming the same file by its CRC): read, and a new run's config set to its latents. */
static int open_vae(session *s)
{
    const opts *o = &s->o;
    char abs[PATH_MAX];
    if (o->resume && o->vae && !s->st.vae_crc)
        return cli_error("--vae: %s was not trained on latents (it records no autoencoder)",
                         o->resume);
    if (o->resume ? !s->st.vae_crc : !o->vae)
        return 0;
    struct stat sb;
    if (o->resume && !o->vae) { /* the recorded file: said by name when it has gone */
        snprintf(abs, sizeof abs, "%.*s", (int)s->st.vae.n, s->st.vae.s ? s->st.vae.s : "");
        if (abs[0] == '/' && stat(abs, &sb) != 0)
            return cli_error("the checkpoint's autoencoder %s is gone (%s): give --vae FILE (the "
                             "file of CRC %08x)",
                             abs, strerror(errno), (unsigned)s->st.vae_crc);
    }
    /* Recorded absolute, so that a resume from elsewhere finds it. */
    const char *path = o->vae && realpath(o->vae, abs) ? abs : o->vae;
    int rc = o->resume ? cli_vae_for_model(o->resume, &s->st, path, &s->vae)
                       : cli_vae_read(path, &s->vae);
    if (rc != 0)
        return rc;
    s->latent = 1;
    return o->resume ? 0 : latent_config(s);
}

/* A new run without --classes: conditional on the data's classes (cli_data: what the
 * set states, or an IDX file's largest label + 1 over the whole file, so that --limit
 * does not change the model); unconditional on an unlabelled set. */
static int classes_of_labels(session *s)
{
    char msg[200];
    s->cfg.num_classes = s->data.num_classes; /* 0: an unlabelled set */
    s->auto_classes = s->cfg.num_classes > 0; /* said in the run's first line */
    if (fm_config_validate(&s->cfg, msg, sizeof msg) != FM_OK)
        return cli_error("config: %s", msg);
    return 0;
}

/* A new run takes its images' channels and size from the data unless --config says
 * (a 32x32 RGB set trains the recipe's network at 32x32x3), as its classes. */
static int shape_of_data(session *s)
{
    char msg[200];
    if (!config_given(&s->o.cfg, "in_channels"))
        s->cfg.in_channels = s->ds.c;
    if (!config_given(&s->o.cfg, "image") && s->ds.h == s->ds.w)
        s->cfg.image = s->ds.h;
    if (fm_config_validate(&s->cfg, msg, sizeof msg) != FM_OK)
        return cli_error("config for the data's %dx%dx%d images: %s", s->ds.h, s->ds.w, s->ds.c,
                         msg);
    return 0;
}

/* The data (its first --limit images), the model description, the batch (the
 * checkpoint's on --resume) and the run's length in steps. Under --vae the images are
 * the autoencoder's (img), the model's config its latents'. */
static int size_run(session *s)
{
    const opts *o = &s->o;
    const fm_config *img = s->latent ? &s->vae.w.cfg : &s->cfg;
    int rc = load_data(o, img, o->resume || s->latent, s->cfg.num_classes, &s->data);
    if (rc != 0 || (o->resume && (rc = same_pack(s)) != 0))
        return rc;
    s->ds = s->data.ds;
    if (!o->resume && !s->latent && (rc = shape_of_data(s)) != 0)
        return rc;
    if (!o->resume && !o->cfg.have_classes && !s->ae && !s->text &&
        (rc = classes_of_labels(s)) != 0)
        return rc;
    if (s->ds.h != img->image || s->ds.w != img->image || s->ds.c != img->in_channels)
        return cli_error("the data has %dx%d images of %d channel%s, the %s expects image=%d "
                         "in_channels=%d",
                         s->ds.h, s->ds.w, s->ds.c, s->ds.c == 1 ? "" : "s",
                         s->latent ? "autoencoder" : "model", img->image, img->in_channels);
    if (o->limit && o->limit < s->ds.n)
        s->ds.n = (int)o->limit;
    /* A resume without --limit takes the first images its run took. */
    if (o->resume && !o->limit && s->st.data_count < (uint64_t)s->ds.n)
        s->ds.n = (int)s->st.data_count;
    if ((rc = parse_class_names(s)) != 0)
        return rc;
    s->m = calloc(1, sizeof *s->m);
    if (!s->m)
        return cli_error("cannot allocate the model description");
    s->batch = (int)o->batch;
    if (o->resume) {
        if (o->have_batch && (uint64_t)o->batch != s->st.batch)
            return cli_error("--batch %lld differs from the checkpoint's batch %llu: a resumed "
                             "run keeps its batch",
                             o->batch, (unsigned long long)s->st.batch);
        s->batch = (int)s->st.batch;
    }
    if (s->batch % s->dist.size != 0)
        return cli_error("--dist: batch %d does not divide among %d ranks (each rank takes "
                         "batch / ranks rows of every batch)",
                         s->batch, s->dist.size);
    s->lb = s->batch / s->dist.size;
    s->spe = s->ds.n / s->batch;
    if (s->spe < 1)
        return cli_error("the data has %d images, fewer than one batch of %d", s->ds.n, s->batch);
    s->total = o->steps ? o->steps : o->epochs * s->spe;
    /* A resume without --steps/--epochs goes on to the run's own end. */
    if (o->resume && !o->steps && !o->have_epochs && !(s->total = (int64_t)s->st.opts.decay_steps))
        return cli_error("%s records no target step (an older checkpoint): give --steps or "
                         "--epochs", o->resume);
    if (s->total >= (1ll << 30))
        return cli_error("%lld steps exceed the limit of 2^30", (long long)s->total);
    return 0;
}

/* A preview's grid: a row of up to 8 per class (as many classes as the batch holds:
 * its forwards run at batch n <= the rank's batch lb), or up to 16 unconditional
 * images in rows of 8. */
static void preview_shape(int lb, int K, int *n, int *cols)
{
    if (K > 0) {
        *cols = lb / K < 1 ? 1 : lb / K > 8 ? 8 : lb / K;
        *n = *cols * (lb < K ? lb : K);
    } else {
        *n = lb < 16 ? lb : 16;
        *cols = 8;
    }
}

/* f32 bytes of [n, c, h, w], 0 on overflow. */
static size_t f32_bytes(int64_t n, int64_t c, int64_t h, int64_t w)
{
    fm_tensor t = fm_tensor_4d(FM_F32, n, c, h, w);
    return fm_tensor_bytes(&t);
}

/* Arena bytes beyond the training plan that the model's kind needs between steps, each
 * from the level a step starts at: an autoencoder measures its latent scale (an encode
 * of lb images, within the sample plan's peak above its weights, and the latents z);
 * a latent run holds its autoencoder (its sample plan for lb images: weights, encode,
 * decode) and the images it encodes. 64 KiB each for a device that aligns more. */
static int kind_bytes(const session *s, size_t *bytes)
{
    fm_plan p;
    int64_t ls[4];
    size_t b = 0;
    *bytes = 0;
    if (s->ae && cli_plan(&s->cfg, FM_MODE_SAMPLE, s->lb, &p))
        return 1;
    if (s->ae && fm_vae_latent_shape(&s->cfg, s->lb, ls) &&
        !fm_add_size(p.total_bytes - p.state_bytes, f32_bytes(ls[0], ls[1], ls[2], ls[3]), &b))
        return cli_error("the latent scale's arena is too large");
    if (s->latent && cli_vae_arena_bytes(&s->vae, s->lb, &b))
        return 1;
    if (s->latent && !fm_add_size(b, f32_bytes(s->lb, s->ds.c, s->ds.h, s->ds.w), &b))
        return cli_error("the autoencoder's arena is too large");
    if (b && !fm_add_size(b, 64 << 10, &b))
        return cli_error("the arena is too large");
    *bytes = b;
    return 0;
}

static int open_backend(session *s)
{
    fm_plan plan;
    int rc = cli_plan(&s->cfg, FM_MODE_TRAIN, s->lb, &plan);
    if (rc != 0)
        return rc;
    /* The plan counts the model, one batch tensor and a whole step exactly; a preview
     * samples between steps from the level a step starts at, so its bytes add, as do
     * the kind's. */
    size_t arena_bytes, pv = 0, kb = 0;
    preview_shape(s->lb, s->cfg.num_classes, &s->preview_n, &s->preview_cols);
    if (s->o.preview_every && (rc = cli_preview_bytes(&s->cfg, s->preview_n, &pv)) != 0)
        return rc;
    if ((rc = kind_bytes(s, &kb)) != 0)
        return rc;
    if (!fm_add_size(plan.total_bytes, 64 << 10, &arena_bytes) ||
        !fm_add_size(arena_bytes, pv, &arena_bytes) || !fm_add_size(arena_bytes, kb, &arena_bytes))
        return cli_error("the training arena (%zu bytes) is too large", plan.total_bytes);
    char spec[64];
    const char *name = train_dist_backend(&s->dist, s->o.backend ? s->o.backend : "auto", spec,
                                          sizeof spec);
    if ((rc = cli_open_backend(&s->be, name, arena_bytes, &s->bemem)) != 0)
        return rc;
    s->be_open = 1;
    return 0;
}

/* --resume with --lr-schedule / --warmup: they must be the checkpoint's. */
static int same_schedule(const session *s)
{
    const opts *o = &s->o;
    const fm_train_opts *to = &s->st.opts;
    static const char *const names[] = {"constant", "cosine"};
    if (o->lr_schedule && (uint32_t)cli_train_schedule(o->lr_schedule) != to->lr_schedule)
        return cli_error("--lr-schedule %s differs from the checkpoint's %s: a resumed run "
                         "keeps its schedule",
                         o->lr_schedule, names[to->lr_schedule]);
    if (o->have_warmup && (uint64_t)o->warmup != to->warmup)
        return cli_error("--warmup %lld differs from the checkpoint's %llu: a resumed run keeps "
                         "its schedule",
                         o->warmup, (unsigned long long)to->warmup);
    return 0;
}

/* The checkpoint's text into the session before its memory goes. */
static void keep_texts(session *s)
{
    memcpy(s->data_text, s->st.data.s ? s->st.data.s : "", s->st.data.n);
    memcpy(s->class_text, s->st.classes.s ? s->st.classes.s : "", s->st.classes.n);
    s->st.data.s = s->data_text;
    s->st.classes.s = s->class_text;
}

/* The checkpoint's tensors onto the backend and its hyper-parameters, after the
 * checks that the flags and the data continue its run. */
static int resume_model(session *s)
{
    const opts *o = &s->o;
    fm_train_opts *to = &s->st.opts;
    char err[768];
    int has_state = 0, rc;
    if (fm_model_create_from_weights(s->m, &s->be, &s->w, FM_MODE_TRAIN, s->lb, 0, &s->st,
                                    &has_state, err, sizeof err) != FM_OK)
        return cli_error("%s: %s", o->resume, err);
    if (s->frozen && text_range(s->m, &s->m->frozen_first, &s->m->frozen_count))
        return 1;
    if (o->have_seed && (uint64_t)o->seed != to->seed)
        return cli_error("--seed %lld differs from the checkpoint's seed %llu: a resumed run "
                         "keeps its seed",
                         o->seed, (unsigned long long)to->seed);
    if ((rc = same_schedule(s)) != 0)
        return rc;
    /* A resume with the run's --steps/--epochs follows the same curve; a longer or
     * shorter run stretches the cosine to end at its own last step (said). */
    if (to->lr_schedule == FM_LR_COSINE && to->decay_steps != (uint64_t)s->total &&
        s->dist.rank == 0)
        fprintf(stderr, "cosine schedule: now ends at step %lld (the checkpoint's run ended at "
                "%llu)\n", (long long)s->total, (unsigned long long)to->decay_steps);
    to->decay_steps = (uint64_t)s->total; /* the run's end, also what a later resume takes */
    if (s->st.data_count != (uint64_t)s->ds.n)
        return cli_error("the checkpoint was trained on %llu images, this data has %d (same "
                         "files and --limit are needed to resume)",
                         (unsigned long long)s->st.data_count, s->ds.n);
    /* With the same data count, fm_ckpt_state_read's cursor < data_count / batch
     * is cursor < spe: the position indexes this epoch's order. The checkpoint's
     * options (s->st.opts) are the run's; explicit hyper-parameters still win (a
     * deliberate change mid-run). */
    if (o->have_lr)
        to->lr = (float)o->lr;
    if (o->have_wd)
        to->weight_decay = (float)o->wd;
    if (o->have_ema)
        to->ema_decay = (float)o->ema;
    if (o->have_drop)
        to->label_drop = (float)o->label_drop;
    if (s->dist.rank == 0)
        fprintf(stderr, "resuming %s at step %llu (epoch %llu, batch %llu of the epoch)\n",
                o->resume, (unsigned long long)s->st.step, (unsigned long long)s->st.epoch + 1,
                (unsigned long long)s->st.cursor);
    keep_texts(s);
    cli_mem_free(&s->ckmem); /* the tensors are on the backend now */
    return 0;
}

/* A new model: Philox(--seed) weights and the flags' hyper-parameters. */
static int new_model(session *s)
{
    const opts *o = &s->o;
    fm_status st = fm_model_create(s->m, &s->be, &s->cfg, FM_MODE_TRAIN, s->lb);
    if (st == FM_OK)
        st = fm_model_init(s->m, (uint64_t)o->seed);
    if (st != FM_OK)
        return cli_error("%s", s->be.err);
    if (s->o.text && copy_frozen(s))
        return 1;
    s->st.opts = fm_train_defaults();
    s->st.opts.lr = (float)o->lr;
    s->st.opts.weight_decay = (float)o->wd;
    s->st.opts.ema_decay = (float)o->ema;
    s->st.opts.label_drop = (float)o->label_drop;
    s->st.opts.seed = (uint64_t)o->seed;
    /* The schedule's length is this run's (a resume to another length stretches it). */
    s->st.opts.lr_schedule = (uint32_t)(o->lr_schedule ? cli_train_schedule(o->lr_schedule) : FM_LR_CONSTANT);
    s->st.opts.warmup = (uint64_t)o->warmup;
    s->st.opts.decay_steps = (uint64_t)s->total;
    char msg[160];
    if (fm_train_opts_check(&s->st.opts, msg, sizeof msg) != FM_OK)
        return cli_error("%s", msg);
    return 0;
}

/* The run's settings into the state every checkpoint records. */
static int record_settings(session *s)
{
    fm_train_opts *to = &s->st.opts;
    /* Test hook (tests/cli_faults.sh): poison the gradients of one step. */
    const char *fault = getenv("FMRT_TEST_FAULT_STEP");
    if (fault && *fault)
        to->fault_step = strtoull(fault, NULL, 10);
    s->st.batch = (uint64_t)s->batch;
    s->st.data_count = (uint64_t)s->ds.n;
    if (s->class_len) {
        s->st.classes.s = s->class_text;
        s->st.classes.n = s->class_len;
    }
    if (s->latent) /* vae_crc and text.vae: a resume and the sampler find it */
        cli_vae_record(&s->vae, &s->st);
    if (s->ae) /* a resumed run's scale is its old weights': measured afresh (save_all) */
        s->st.latent_scale = 0;
    return record_data(s);
}

/* A resumed run appends to its log; a new run starts one. */
static int open_log(session *s)
{
    const opts *o = &s->o;
    if (!o->log || s->dist.rank != 0) /* rank 0 logs for the run */
        return 0;
    int fresh = !o->resume;
    if (o->resume) {
        struct stat sb;
        fresh = stat(o->log, &sb) != 0 || sb.st_size == 0;
    }
    s->log = fopen(o->log, fresh ? "w" : "a");
    if (!s->log)
        return cli_error("cannot open log %s: %s", o->log, strerror(errno));
    char terms[16];
    if (fresh)
        fprintf(s->log, "step,epoch,loss,img_per_s%s\n",
                ae_terms(s->ae, &s->cfg, NULL, 1, terms, sizeof terms));
    return 0;
}

/* A --dist rank that the launcher ends (mpirun sends SIGTERM to every rank when
 * one fails) cannot finish its step: the others are gone. It says so and exits;
 * files are written atomically, so the last checkpoint stays whole. */
static void on_sigterm_dist(int sig)
{
    static const char msg[] = "fmrt train: this rank was ended by the launcher (another rank "
                              "stopped or failed); the last checkpoint on disk is intact\n";
    (void)sig;
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(143);
}

static void catch_signals(int dist)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (dist)
        sa.sa_handler = on_sigterm_dist;
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN); /* an over-long file shows up as EFBIG, not a kill */
}

/* Closes whatever is open; a log that fails to flush fails a run that succeeded. */
static int close_session(session *s, int rc)
{
    const int ok = rc == 0 || rc == CLI_INTERRUPTED; /* a saved Ctrl-C is no failure */
    if (s->log && fclose(s->log) != 0 && ok)
        rc = cli_error("writing log %s failed", s->o.log);
    if (s->be_open)
        fm_backend_close(&s->be);
    free(s->m);
    if (rc != 0 && rc != CLI_INTERRUPTED)
        train_dist_fail(&s->dist, rc); /* no rank may wait for this one */
    train_dist_close(&s->dist);
    cli_mem_free(&s->scratchmem);
    cli_mem_free(&s->bemem);
    cli_data_close(&s->data);
    cli_mem_free(&s->ckmem);
    cli_vae_close(&s->vae);
    cli_lines_free(&s->caps);
    cli_tok_close(&s->tok);
    free(s->ids);
    cli_mem_free(&s->twmem);
    return rc;
}

/* The model, its config and its data: each stage needs the ones before it. */
static int open_run(session *s)
{
    int rc;
    if ((rc = open_config(s)) != 0 || (rc = check_kind(s)) != 0 || (rc = open_vae(s)) != 0 ||
        (rc = size_run(s)) != 0 || (rc = open_text(s)) != 0 || (rc = open_backend(s)) != 0)
        return rc;
    if ((rc = s->o.resume ? resume_model(s) : new_model(s)) != 0)
        return rc;
    /* On the model's backend, after the model (both stay for the run). */
    return s->latent ? cli_vae_attach(&s->vae, &s->be, s->lb) : 0;
}

/* fmrt train and fmrt train-vae once their flags are parsed into s->o. */
static int run_command(session *s)
{
    int rc;
    if ((rc = train_dist_init(&s->dist, s->o.dist, s->o.dist_check)) != 0)
        return close_session(s, rc);
    /* After init: under mpirun a run is distributed without --dist too. */
    if (s->o.have_dist_check && !s->dist.on)
        return close_session(s, cli_usage_error(s->o.cmd, "--dist-check is for a --dist run "
                                                          "(the ranks' checksums)"));
    if (check_outputs(&s->o))
        return close_session(s, 1);
    if ((rc = open_run(s)) != 0)
        return close_session(s, rc);
    if ((rc = record_settings(s)) != 0 ||
        (rc = train_dist_attach(&s->dist, s->m, &s->st.opts, s->lb)) != 0)
        return close_session(s, rc);
    if ((int64_t)s->st.step >= s->total) {
        fprintf(stderr,
                "the checkpoint is at step %llu, the target is %lld: nothing to train "
                "(raise --steps or --epochs)\n",
                (unsigned long long)s->st.step, (long long)s->total);
        return close_session(s, 0);
    }
    if ((rc = open_log(s)) != 0)
        return close_session(s, rc);

    catch_signals(s->dist.on && s->dist.size > 1);
    rc = train(s);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return close_session(s, rc);
}

int cmd_train(int argc, char **argv)
{
    session s = {.st = {.opts = fm_train_defaults()}};
    int rc = parse_train_args(argc, argv, &s.o);
    if (rc == CLI_HELP)
        cli_train_usage(stdout);
    return rc == CLI_HELP ? 0 : rc ? rc : run_command(&s);
}

int cmd_train_vae(int argc, char **argv)
{
    session s = {.st = {.opts = fm_train_defaults()}};
    int rc = parse_train_vae_args(argc, argv, &s.o);
    if (rc == CLI_HELP)
        cli_train_vae_usage(stdout);
    return rc == CLI_HELP ? 0 : rc ? rc : run_command(&s);
}
