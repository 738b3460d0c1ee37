/* fmrt train: the seed notebook's training loop over MNIST-format IDX files.
 *
 * Determinism: every random number of a run is a pure function of (seed, step,
 * epoch): the initial weights (Philox(seed)), the per-step noise, t and label
 * dropout (FM_STREAM(step, k)), and the data order, a Fisher-Yates shuffle per
 * epoch whose draws come from Philox(seed) stream SHUFFLE_STREAM + epoch. A
 * checkpoint therefore only needs the tensors (raw, EMA, Adam moments), the step
 * and the position in the epoch to continue bit-identically. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cli.h"
#include "flow.h"
#include "io.h"
#include "size.h"

#define CMD "train"
/* Shuffle streams sit far from the step streams FM_STREAM(step, k) = 4 step + k,
 * which reach them only after 2^28 steps. */
#define SHUFFLE_STREAM 0x40000000u

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: fmrt train (--data DIR | --images F --labels F) [options]\n\n"
            "Trains the flow-matching U-Net with the seed notebook's recipe.\n\n"
            "data:\n"
            "  --data DIR           train-images-idx3-ubyte[.gz] and labels in DIR\n"
            "  --images F --labels F  IDX files (raw or gzip'd)\n"
            "  --limit N            use only the first N images\n"
            "model:\n"
            "  --preset mnist|tiny  base configuration (default mnist)\n"
            "  --config key=value   override one config field (repeatable)\n"
            "  --classes K          conditional model with K classes (default 0)\n"
            "  --backend NAME       ref, opencl, cuda or auto (default auto)\n"
            "optimisation:\n"
            "  --batch N            batch size (default 128; the last partial batch is dropped)\n"
            "  --epochs N           epochs to train (default 30)\n"
            "  --steps N            total optimizer steps instead of --epochs\n"
            "  --lr X --wd X        AdamW learning rate / weight decay (1e-4, 0.01)\n"
            "  --ema X              EMA decay (0.999)\n"
            "  --label-drop P       conditional models: label dropout probability (0.1)\n"
            "  --seed S             Philox seed of the whole run (default 0)\n"
            "output:\n"
            "  --out F              weights file written at the end (default weights.fmw)\n"
            "  --ckpt F             checkpoint written every --ckpt-every steps and at the end\n"
            "  --ckpt-every N       steps between checkpoints (default 500 when --ckpt is given)\n"
            "  --resume F           continue the run of checkpoint F bit-identically\n"
            "  --log F              CSV of step,epoch,loss,img_per_s\n"
            "  --log-every N        progress line every N steps when stderr is not a TTY (50)\n"
            "  --skip-nonfinite     skip steps whose loss or gradient is NaN/inf (counted)\n"
            "                       instead of stopping with the last checkpoint kept\n\n"
            "--steps / --epochs count from the start of the run, also after --resume.\n"
            "Ctrl-C finishes the current step, writes --out and --ckpt, and exits.\n");
}

typedef cli_train_opts opts;

/* Bytes an IDX file holds once decompressed: a gzip member ends with its length
 * mod 2^32 (RFC 1952 ISIZE), exact for the files the loader accepts (< 2 GiB). */
static int idx_bytes(const char *path, size_t *bytes)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    *bytes = (size_t)st.st_size;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    unsigned char head[2] = {0}, tail[4] = {0};
    int gz = fread(head, 1, 2, f) == 2 && head[0] == 0x1f && head[1] == 0x8b;
    if (gz && st.st_size >= 18 && fseek(f, -4, SEEK_END) == 0 && fread(tail, 1, 4, f) == 4)
        *bytes = (size_t)tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 |
                 (size_t)tail[3] << 24;
    fclose(f);
    return 0;
}

int parse_train_args(int argc, char **argv, opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 128;
    o->epochs = 30;
    o->out = "weights.fmw";
    o->log_every = 50;
    o->lr = 1e-4;
    o->wd = 0.01;
    o->ema = 0.999;
    o->label_drop = 0.1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (strcmp(a, "--skip-nonfinite") == 0) {
            o->skip_nonfinite = 1;
            continue;
        }
        int r = cli_config_option(CMD, &o->cfg, argc, argv, &i);
        if (r == 0)
            continue;
        if (r > 0)
            return r;
        if (strncmp(a, "--", 2) != 0)
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error(CMD, "%s needs a value", a);
        const char *v = argv[++i];
        const char **str = NULL, *key = NULL; /* key: fm_train_opt_check's name */
        long long *num = NULL, lo = 1, hi = 1ll << 29;
        double *real = NULL;
        int *have = NULL;
        if (strcmp(a, "--data") == 0) str = &o->data;
        else if (strcmp(a, "--images") == 0) str = &o->images;
        else if (strcmp(a, "--labels") == 0) str = &o->labels;
        else if (strcmp(a, "--backend") == 0) str = &o->backend;
        else if (strcmp(a, "--out") == 0) str = &o->out;
        else if (strcmp(a, "--ckpt") == 0) str = &o->ckpt;
        else if (strcmp(a, "--resume") == 0) str = &o->resume;
        else if (strcmp(a, "--log") == 0) str = &o->log;
        else if (strcmp(a, "--batch") == 0) num = &o->batch, hi = FM_MAX_BATCH, have = &o->have_batch;
        else if (strcmp(a, "--epochs") == 0) num = &o->epochs, hi = 1000000, have = &o->have_epochs;
        else if (strcmp(a, "--steps") == 0) num = &o->steps, hi = FM_MAX_STEPS;
        else if (strcmp(a, "--seed") == 0) num = &o->seed, lo = 0, hi = FM_MAX_SEED, have = &o->have_seed;
        else if (strcmp(a, "--ckpt-every") == 0) num = &o->ckpt_every;
        else if (strcmp(a, "--limit") == 0) num = &o->limit, hi = 1ll << 31;
        else if (strcmp(a, "--log-every") == 0) num = &o->log_every;
        else if (strcmp(a, "--lr") == 0) real = &o->lr, key = "lr", have = &o->have_lr;
        else if (strcmp(a, "--wd") == 0) real = &o->wd, key = "weight_decay", have = &o->have_wd;
        else if (strcmp(a, "--ema") == 0) real = &o->ema, key = "ema_decay", have = &o->have_ema;
        else if (strcmp(a, "--label-drop") == 0) real = &o->label_drop, key = "label_drop", have = &o->have_drop;
        else return cli_usage_error(CMD, "unknown option '%s'", a);
        char msg[128];
        if (str)
            *str = v;
        else if (num && cli_int(a, v, lo, hi, num))
            return 2;
        else if (real && cli_float(a, v, -DBL_MAX, DBL_MAX, real))
            return 2;
        /* The rule a resumed checkpoint's value is held to as well (flow.h). */
        if (real && fm_train_opt_check(key, *real, msg, sizeof msg) != FM_OK)
            return cli_usage_error(CMD, "%s %s: %s", a, v, msg);
        if (have)
            *have = 1;
    }
    if (o->data && (o->images || o->labels))
        return cli_usage_error(CMD, "give --data DIR or --images/--labels, not both");
    if (!o->data && (!o->images || !o->labels))
        return cli_usage_error(CMD, "training data missing: --data DIR or --images F --labels F");
    if (o->steps && o->have_epochs)
        return cli_usage_error(CMD, "give --steps or --epochs, not both");
    if (o->ckpt_every && !o->ckpt)
        return cli_usage_error(CMD, "--ckpt-every needs --ckpt FILE");
    if (o->ckpt && !o->ckpt_every)
        o->ckpt_every = 500;
    if (o->resume && o->cfg.given)
        return cli_usage_error(CMD, "--resume takes the model from the checkpoint; drop "
                                    "--preset/--config/--classes");
    return 0;
}

/* The training set, in host memory the CLI owns. */
static int load_data(const opts *o, int num_classes, fm_dataset *ds, cli_mem *mem)
{
    char images[1024], labels[1024], err[512];
    if (o->data) {
        if (fm_mnist_find(o->data, "train", images, labels, sizeof images, err, sizeof err) != FM_OK)
            return cli_error("%s", err);
    } else {
        snprintf(images, sizeof images, "%s", o->images);
        snprintf(labels, sizeof labels, "%s", o->labels);
    }
    size_t bi, bl;
    if (idx_bytes(images, &bi) || idx_bytes(labels, &bl))
        return 1;
    /* Payloads, their rounding, and zlib's inflate state (freed before returning). */
    fm_arena a;
    size_t need;
    /* bi and bl come from the files (a gzip trailer is any 32-bit number). */
    if (!fm_add_size(bi, bl, &need) || !fm_add_size(need, 1 << 20, &need))
        return cli_error("%s + %s: too large for this address space", images, labels);
    if (cli_host_arena(&a, need, mem))
        return 1;
    if (fm_mnist_load(images, labels, num_classes, &a, ds, err, sizeof err) != FM_OK) {
        cli_mem_free(mem);
        return cli_error("%s", err);
    }
    return 0;
}

/* Fisher-Yates over [0, n) for one epoch: draw i uses the top bits of Philox
 * word r0 (multiply-shift, so j is uniform in [0, i] up to 2^-32 bias). */
static void shuffle(uint32_t *perm, int64_t n, uint64_t seed, uint64_t epoch)
{
    for (int64_t i = 0; i < n; i++)
        perm[i] = (uint32_t)i;
    for (int64_t i = n - 1; i > 0; i--) {
        fm_philox4 r = fm_philox_element(seed, (uint64_t)i, SHUFFLE_STREAM + (uint32_t)epoch);
        int64_t j = (int64_t)(((uint64_t)r.v[0] * (uint64_t)(i + 1)) >> 32);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void hms(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 360000.0 * 24)
        s = 0;
    long t = (long)(s + 0.5);
    snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

typedef struct run {
    opts *o;
    fm_unet *m;
    fm_ckpt_state st;
    fm_arena scratch;
} run;

/* Both files are attempted even when one fails, so one bad path loses nothing else. */
static int save_all(run *r, int final)
{
    char err[512];
    int rc = 0;
    if (r->o->ckpt && fm_unet_save(r->m, r->o->ckpt, FM_WEIGHTS_KIND_CHECKPOINT, &r->st,
                                   &r->scratch, err, sizeof err) != FM_OK)
        rc = cli_error("writing checkpoint: %s", err);
    if (final && fm_unet_save(r->m, r->o->out, FM_WEIGHTS_KIND_WEIGHTS, &r->st, &r->scratch, err,
                              sizeof err) != FM_OK)
        rc = cli_error("writing weights: %s", err);
    return rc;
}

/* Every output checked before hours of training start (cli_check_outputs): --out,
 * --ckpt and --log distinct and none of them a data file; --out and --log not the
 * checkpoint being resumed (--ckpt may be: the run goes on writing it). */
static int check_outputs(const opts *o)
{
    cli_files outs = {0}, data = {0}, resume = {0}, final = {0};
    cli_files_add(&outs, "--out", o->out);
    cli_files_add(&outs, "--ckpt", o->ckpt);
    cli_files_add(&outs, "--log", o->log);
    cli_files_add(&data, "--images", o->images);
    cli_files_add(&data, "--labels", o->labels);
    cli_files_add(&resume, "--resume", o->resume);
    cli_files_add(&final, "--out", o->out);
    cli_files_add(&final, "--log", o->log);
    return cli_check_outputs(&outs, &data) || cli_check_outputs(&final, &resume);
}

static int train(opts *o, fm_unet *m, fm_backend *be, const fm_dataset *ds, fm_ckpt_state *st,
                 int64_t total, int64_t spe, FILE *log, fm_train_opts *to, cli_mem *scratch_mem)
{
    const int B = (int)st->batch, C = m->cfg.in_channels, HW = ds->h * ds->w;
    const int cond = m->cfg.num_classes > 0;
    run r = {.o = o, .m = m, .st = *st};
    if (cli_host_arena(&r.scratch, fm_unet_save_scratch_bytes(m, FM_WEIGHTS_KIND_CHECKPOINT),
                       scratch_mem))
        return 1;
    fm_tensor x0 = fm_tensor_4d(FM_F32, B, C, ds->h, ds->w);
    if (fm_tensor_alloc(be, &x0) != FM_OK)
        return cli_error("batch tensor: %s", be->err);
    size_t xbytes = 0;
    float *xb = NULL;
    if (fm_mul_size((size_t)B * sizeof(float), (size_t)C, &xbytes) &&
        fm_mul_size(xbytes, (size_t)HW, &xbytes))
        xb = malloc(xbytes);
    int32_t *yb = malloc(sizeof(int32_t) * (size_t)B);
    uint32_t *perm = malloc(sizeof(uint32_t) * (size_t)ds->n);
    int rc = 0;
    if (!xb || !yb || !perm) {
        rc = cli_error("cannot allocate the host batch buffers");
        goto out;
    }
    const int tty = isatty(fileno(stderr));
    const int64_t epochs = (total + spe - 1) / spe;
    const int64_t first = (int64_t)r.st.step;
    double t0 = cli_now(), tlast = t0, epoch_loss = 0;
    int64_t epoch_steps = 0, skipped = 0;
    int shuffled = 0;          /* perm holds the order of epoch perm_epoch */
    uint64_t perm_epoch = 0;
    fprintf(stderr, "training %s: %lld params, %d images, batch %d, %lld steps/epoch, "
            "steps %lld..%lld, backend %s\n",
            cond ? "conditional" : "unconditional", (long long)m->nfloats, ds->n, B,
            (long long)spe, (long long)first + 1, (long long)total, fm_backend_describe(be));
    while ((int64_t)r.st.step < total && !g_stop) {
        if (!shuffled || perm_epoch != r.st.epoch) {
            shuffle(perm, ds->n, r.st.seed, r.st.epoch);
            shuffled = 1;
            perm_epoch = r.st.epoch;
        }
        /* Gather the batch on the host: pixels p -> p / 127.5 - 1. */
        for (int b = 0; b < B; b++) {
            uint32_t idx = perm[r.st.cursor * (uint64_t)B + (uint64_t)b];
            const uint8_t *px = ds->images + (size_t)idx * (size_t)HW;
            float *dst = xb + (size_t)b * (size_t)C * (size_t)HW;
            for (int k = 0; k < HW; k++)
                dst[k] = (float)px[k] / 127.5f - 1.0f;
            yb[b] = ds->labels[idx];
        }
        uint64_t step = r.st.step + 1;
        float loss = 0;
        fm_status s = fm_upload(be, &x0, xb);
        if (s == FM_OK)
            s = fm_train_step(m, to, &x0, cond ? yb : NULL, step, &loss);
        /* fm_train_step checks the loss and gradients before updating, so on
         * FM_ERR_NUMERIC the weights are still those of the previous step. */
        if (s == FM_ERR_NUMERIC && o->skip_nonfinite) {
            skipped++;
            fprintf(stderr, "%sskipped %s\n", tty ? "\n" : "", be->err);
        } else if (s == FM_ERR_NUMERIC) {
            /* Keep the last good checkpoint and weights on disk untouched. */
            rc = cli_error("%s; stopping without saving (the last checkpoint, if any, is "
                           "intact; try a lower --lr, or --skip-nonfinite)", be->err);
            goto out;
        } else if (s != FM_OK) {
            rc = cli_error("step %llu: %s", (unsigned long long)step, be->err);
            goto out;
        }
        double now = cli_now(), dt = now - tlast;
        tlast = now;
        r.st.step = step;
        if (s == FM_OK) { /* a skipped step has no loss to average */
            epoch_loss += loss;
            epoch_steps++;
        }
        const double mean = epoch_loss / (double)(epoch_steps ? epoch_steps : 1);
        const uint64_t ep = r.st.epoch, pos = r.st.cursor + 1;
        if (++r.st.cursor == (uint64_t)spe) {
            r.st.cursor = 0;
            r.st.epoch++;
        }
        double ips = (double)(step - (uint64_t)first) * B / (now - t0);
        if (log)
            fprintf(log, "%llu,%llu,%.6f,%.2f\n", (unsigned long long)step,
                    (unsigned long long)ep + 1, (double)loss, dt > 0 ? B / dt : 0.0);
        char eta[32];
        hms((double)(total - (int64_t)step) * B / ips, eta, sizeof eta);
        if (tty) {
            char bar[21];
            int fill = (int)(20 * pos / (uint64_t)spe);
            for (int k = 0; k < 20; k++)
                bar[k] = k < fill ? '=' : k == fill ? '>' : ' ';
            bar[20] = 0;
            fprintf(stderr, "\repoch %llu/%lld step %llu/%lld [%s] loss %.4f img/s %.1f ETA %s\x1b[K",
                    (unsigned long long)ep + 1, (long long)epochs, (unsigned long long)pos,
                    (long long)spe, bar, mean, ips, eta);
        } else if (step % (uint64_t)o->log_every == 0 || (int64_t)step == first + 1 ||
                   (int64_t)step == total) {
            fprintf(stderr, "step %llu/%lld epoch %llu loss %.4f img/s %.1f ETA %s\n",
                    (unsigned long long)step, (long long)total, (unsigned long long)ep + 1,
                    (double)loss, ips, eta);
        }
        if (r.st.cursor == 0) {
            fprintf(stderr, "%sepoch %llu: mean loss %.4f over %lld steps\n", tty ? "\n" : "",
                    (unsigned long long)ep + 1, mean,
                    (long long)epoch_steps);
            epoch_loss = 0;
            epoch_steps = 0;
        }
        if (o->ckpt && step % (uint64_t)o->ckpt_every == 0 && (int64_t)step < total && !g_stop) {
            if ((rc = save_all(&r, 0)) != 0)
                goto out;
            if (log)
                fflush(log);
        }
    }
    if (tty && r.st.cursor != 0)
        fputc('\n', stderr);
    if ((rc = save_all(&r, 1)) != 0)
        goto out;
    double el = cli_now() - t0;
    int64_t done = (int64_t)r.st.step - first;
    fprintf(stderr, "%s at step %llu: %lld steps in %.1f s (%.1f img/s); wrote %s%s%s\n",
            g_stop ? "interrupted" : "done", (unsigned long long)r.st.step, (long long)done, el,
            el > 0 ? (double)done * B / el : 0.0, o->out, o->ckpt ? " and " : "",
            o->ckpt ? o->ckpt : "");
    if (skipped)
        fprintf(stderr, "skipped %lld step%s with a non-finite loss or gradient "
                "(--skip-nonfinite)\n", (long long)skipped, skipped == 1 ? "" : "s");
    if (g_stop && o->ckpt)
        fprintf(stderr, "resume with: --resume %s\n", o->ckpt);
    else if (g_stop)
        fprintf(stderr, "no --ckpt given: the optimizer state was not saved\n");
    *st = r.st;
out:
    free(xb);
    free(yb);
    free(perm);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    opts o;
    int rc = parse_train_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        usage(stdout);
        return 0;
    }
    if (rc)
        return rc;

    if (check_outputs(&o))
        return 1;
    fm_config cfg;
    fm_ckpt_state st = {0};
    fm_weights w;
    cli_mem ckmem = {0}, datamem = {0}, bemem = {0}, scratchmem = {0};
    fm_unet *m = NULL;
    fm_backend be;
    int be_open = 0;
    FILE *log = NULL;
    fm_train_opts to = fm_train_defaults();
    char err[768];

    if (o.resume) {
        if (cli_load_weights(o.resume, &w, NULL, &ckmem))
            return 1;
        if (w.kind != FM_WEIGHTS_KIND_CHECKPOINT) {
            rc = cli_error("%s is a weights file, not a checkpoint: --resume needs the file "
                           "written by --ckpt", o.resume);
            goto done;
        }
        cfg = w.cfg;
        /* The run's own settings come from the checkpoint; changing the ones the
         * data order depends on would not be a resume. State and tensors are checked
         * before the data is read or anything is sized by the file's config. */
        if (fm_ckpt_state_read(&w, &st, err, sizeof err) != FM_OK) {
            rc = cli_error("%s: %s", o.resume, err);
            goto done;
        }
        if ((rc = cli_check_weights(o.resume, &w, FM_MODE_TRAIN, 0)) != 0)
            goto done;
    } else if ((rc = cli_build_config(&o.cfg, &cfg)) != 0) {
        return rc;
    }
    if (cfg.in_channels != 1) {
        rc = cli_error("config: MNIST-format data has 1 channel, the model has in_channels=%d",
                       cfg.in_channels);
        goto done;
    }

    fm_dataset ds;
    if ((rc = load_data(&o, cfg.num_classes, &ds, &datamem)) != 0)
        goto done;
    if (ds.h != cfg.image || ds.w != cfg.image) {
        rc = cli_error("the data has %dx%d images, the model expects image=%d", ds.h, ds.w,
                       cfg.image);
        goto done;
    }
    if (o.limit && o.limit < ds.n)
        ds.n = (int)o.limit;

    m = calloc(1, sizeof *m);
    if (!m) {
        rc = cli_error("cannot allocate the model description");
        goto done;
    }
    int batch = (int)o.batch;
    if (o.resume) {
        if (o.have_batch && (uint64_t)o.batch != st.batch) {
            rc = cli_error("--batch %lld differs from the checkpoint's batch %llu: a resumed run "
                           "keeps its batch", o.batch, (unsigned long long)st.batch);
            goto done;
        }
        batch = (int)st.batch;
    }
    int64_t spe = ds.n / batch;
    if (spe < 1) {
        rc = cli_error("the data has %d images, fewer than one batch of %d", ds.n, batch);
        goto done;
    }
    int64_t total = o.steps ? o.steps : o.epochs * spe;
    if (total >= (1ll << 30)) {
        rc = cli_error("%lld steps exceed the limit of 2^30", (long long)total);
        goto done;
    }

    fm_plan plan;
    if ((rc = cli_plan(&cfg, FM_MODE_TRAIN, batch, &plan)) != 0)
        goto done;
    /* The plan counts the model, one batch tensor and a whole step exactly. */
    size_t arena_bytes;
    if (!fm_add_size(plan.total_bytes, 64 << 10, &arena_bytes)) {
        rc = cli_error("the training arena (%zu bytes) is too large", plan.total_bytes);
        goto done;
    }
    if ((rc = cli_open_backend(&be, o.backend ? o.backend : "auto", arena_bytes, &bemem)) != 0)
        goto done;
    be_open = 1;

    if (o.resume) {
        int has_state = 0;
        fm_status s = fm_unet_create_from_weights(m, &be, &w, FM_MODE_TRAIN, batch, 0, &st,
                                                  &has_state, err, sizeof err);
        if (s != FM_OK) {
            rc = cli_error("%s: %s", o.resume, err);
            goto done;
        }
        if (o.have_seed && (uint64_t)o.seed != st.seed) {
            rc = cli_error("--seed %lld differs from the checkpoint's seed %llu: a resumed run "
                           "keeps its seed", o.seed, (unsigned long long)st.seed);
            goto done;
        }
        if (st.data_count != (uint64_t)ds.n) {
            rc = cli_error("the checkpoint was trained on %llu images, this data has %d (same "
                           "files and --limit are needed to resume)",
                           (unsigned long long)st.data_count, ds.n);
            goto done;
        }
        /* With the same data count, fm_ckpt_state_read's cursor < data_count / batch
         * is cursor < spe: the position indexes this epoch's order. */
        to.lr = st.lr;
        to.beta1 = st.beta1;
        to.beta2 = st.beta2;
        to.eps = st.eps;
        to.weight_decay = st.weight_decay;
        to.ema_decay = st.ema_decay;
        to.label_drop = st.label_drop;
        /* Explicit hyper-parameters still win (a deliberate change mid-run). */
        if (o.have_lr) to.lr = (float)o.lr;
        if (o.have_wd) to.weight_decay = (float)o.wd;
        if (o.have_ema) to.ema_decay = (float)o.ema;
        if (o.have_drop) to.label_drop = (float)o.label_drop;
        fprintf(stderr, "resuming %s at step %llu (epoch %llu, batch %llu of the epoch)\n",
                o.resume, (unsigned long long)st.step, (unsigned long long)st.epoch + 1,
                (unsigned long long)st.cursor);
        cli_mem_free(&ckmem); /* the tensors are on the backend now */
    } else {
        fm_status s = fm_unet_create(m, &be, &cfg, FM_MODE_TRAIN, batch);
        if (s == FM_OK)
            s = fm_unet_init_params(m, (uint64_t)o.seed);
        if (s != FM_OK) {
            rc = cli_error("%s", be.err);
            goto done;
        }
        to.lr = (float)o.lr;
        to.weight_decay = (float)o.wd;
        to.ema_decay = (float)o.ema;
        to.label_drop = (float)o.label_drop;
        st.seed = (uint64_t)o.seed;
    }
    to.seed = st.seed;
    /* Test hook (tests/cli_faults.sh): poison the gradients of one step. */
    const char *fault = getenv("FMRT_TEST_FAULT_STEP");
    if (fault && *fault)
        to.fault_step = strtoull(fault, NULL, 10);
    st.batch = (uint64_t)batch;
    st.data_count = (uint64_t)ds.n;
    st.lr = to.lr;
    st.beta1 = to.beta1;
    st.beta2 = to.beta2;
    st.eps = to.eps;
    st.weight_decay = to.weight_decay;
    st.ema_decay = to.ema_decay;
    st.label_drop = to.label_drop;
    if ((int64_t)st.step >= total) {
        fprintf(stderr, "the checkpoint is at step %llu, the target is %lld: nothing to train "
                "(raise --steps or --epochs)\n", (unsigned long long)st.step, (long long)total);
        goto done;
    }

    if (o.log) {
        /* A resumed run appends to its log; a new run starts one. */
        int fresh = !o.resume;
        if (o.resume) {
            struct stat sb;
            fresh = stat(o.log, &sb) != 0 || sb.st_size == 0;
        }
        log = fopen(o.log, fresh ? "w" : "a");
        if (!log) {
            rc = cli_error("cannot open log %s: %s", o.log, strerror(errno));
            goto done;
        }
        if (fresh)
            fprintf(log, "step,epoch,loss,img_per_s\n");
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills at once */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN); /* an over-long file shows up as EFBIG, not a kill */

    rc = train(&o, m, &be, &ds, &st, total, spe, log, &to, &scratchmem);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);

done:
    if (log && fclose(log) != 0 && rc == 0)
        rc = cli_error("writing log %s failed", o.log);
    if (be_open)
        fm_backend_close(&be);
    free(m);
    cli_mem_free(&scratchmem);
    cli_mem_free(&bemem);
    cli_mem_free(&datamem);
    cli_mem_free(&ckmem);
    return rc;
}
