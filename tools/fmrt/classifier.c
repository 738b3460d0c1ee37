/* fmrt train-classifier: train the MNIST classifier of model/classifier.h (the
 * sample-quality meter of fmrt eval) on a folder of IDX digits, report train (and,
 * when the folder has t10k files, test) accuracy, and write a weights file marked
 * "model" = 1. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "classifier_io.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_data.h"
#include "cli_mem.h"
#include "commands.h"
#include "io.h"
#include "philox.h"
#include "size.h"

#define CMD "train-classifier"

typedef struct cls_cli {
    const char *data, *backend, *out;
    long long epochs, batch, seed, limit, shift;
    double lr;
} cls_cli;

static void usage(void)
{
    printf("usage: fmrt train-classifier --data DIR --out FILE [options]\n\n"
           "Trains the MNIST classifier (3 convs, 2 linears) on DIR's training digits\n"
           "and writes its weights; reports test accuracy when DIR has t10k files.\n\n"
           "  --data DIR       folder with train-images-idx3-ubyte[.gz] and labels\n"
           "  --out FILE       weights file to write (crash-safe)\n"
           "  --epochs N       passes over the data (default 3)\n"
           "  --shift P        training digits moved by up to P pixels each way, at random\n"
           "                   (default 2; 0: none): the data augmentation\n"
           "  --batch B        batch size (default 64)\n"
           "  --lr X           AdamW learning rate at the start (default 0.001), decayed to 0\n"
           "                   over the run along a cosine\n"
           "  --seed S         initialisation and shuffling seed (default 0)\n"
           "  --limit N        use only the first N training digits\n"
           "  --backend NAME   ref, cpu, opencl, cuda or auto (default auto)\n");
}

/* One flag with a value at argv[*i]: 0, 1 (unknown flag) or 2 (usage error). */
static int take(cls_cli *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char **str = NULL;
    long long *num = NULL, lo = 1, hi = 1ll << 31;
    if (strcmp(a, "--data") == 0)
        str = &o->data;
    else if (strcmp(a, "--out") == 0)
        str = &o->out;
    else if (strcmp(a, "--backend") == 0)
        str = &o->backend;
    else if (strcmp(a, "--epochs") == 0)
        num = &o->epochs, hi = 100000;
    else if (strcmp(a, "--batch") == 0)
        num = &o->batch, hi = FM_CLS_MAX_BATCH;
    else if (strcmp(a, "--seed") == 0)
        num = &o->seed, lo = 0, hi = 1ll << 62;
    else if (strcmp(a, "--limit") == 0)
        num = &o->limit;
    else if (strcmp(a, "--shift") == 0)
        num = &o->shift, lo = 0, hi = 8;
    else if (strcmp(a, "--lr") != 0)
        return 1;
    if (*i + 1 >= argc)
        return cli_usage_error(CMD, "%s needs a value", a);
    const char *v = argv[++*i];
    if (str) {
        *str = v;
        return 0;
    }
    if (num)
        return cli_int(a, v, lo, hi, num) ? 2 : 0;
    return cli_float(a, v, 1e-8, 10, &o->lr) ? 2 : 0;
}

static int parse(int argc, char **argv, cls_cli *o)
{
    *o = (cls_cli){.backend = "auto", .epochs = 3, .batch = 64, .shift = 2, .lr = 1e-3};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return CLI_HELP;
        int rc = take(o, argc, argv, &i);
        if (rc == 1)
            return cli_usage_error(CMD, "unknown argument '%s'", argv[i]);
        if (rc)
            return rc;
    }
    if (!o->data)
        return cli_usage_error(CMD, "--data DIR missing");
    if (!o->out)
        return cli_usage_error(CMD, "--out FILE missing");
    return 0;
}

/* Split "train" or "t10k" of dir into host memory; 28x28 digits, labels 0..9. */
static int load_split(const char *dir, const char *split, fm_dataset *ds, cli_mem *mem)
{
    char images[1024], labels[1024], err[512];
    if (fm_mnist_find(dir, split, images, labels, sizeof images, err, sizeof err) != FM_OK)
        return cli_error("%s", err);
    if (cli_load_mnist(images, labels, FM_CLS_CLASSES, ds, mem))
        return 1;
    if (ds->h != FM_CLS_IMAGE || ds->w != FM_CLS_IMAGE) {
        cli_mem_free(mem);
        return cli_error("%s: digits are %dx%d, the classifier takes 28x28", images, ds->h, ds->w);
    }
    return 0;
}

/* What a run holds; every field starts zeroed. */
typedef struct cls_run {
    cls_cli o;
    fm_dataset train, test;
    cli_mem train_mem, test_mem, be_mem, save_mem;
    int have_test, be_open;
    fm_backend be;
    fm_model c;
    fm_tensor x, logits;
    float *xb, *lb; /* host batch [B,784], logits [B,10] */
    int32_t *yb;    /* host labels [B] */
    uint32_t *perm; /* [n] */
} cls_run;

/* Digit px into out (p -> p / 127.5 - 1), moved by (dy, dx) pixels; what moves in
 * from outside the frame is background (-1). */
static void digit_in(float *out, const uint8_t *px, int dy, int dx)
{
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            int sy = y - dy, sx = x - dx;
            int in = sy >= 0 && sy < 28 && sx >= 0 && sx < 28;
            out[y * 28 + x] = in ? (float)px[sy * 28 + sx] / 127.5f - 1.0f : -1.0f;
        }
}

/* Images idx[0..n) of ds into r->xb and r->yb; upload. aug >= 0 (training with
 * --shift P): each image moved by dy, dx uniform in [-P, P], from Philox(seed) at
 * element aug + b, stream 3, so a run is reproducible. */
static fm_status batch_in(cls_run *r, const fm_dataset *ds, const uint32_t *idx, int64_t first,
                          int n, int64_t aug, fm_tensor *x)
{
    int P = (int)r->o.shift;
    for (int b = 0; b < n; b++) {
        int64_t k = idx ? idx[first + b] : first + b;
        int dy = 0, dx = 0;
        if (aug >= 0 && P > 0) {
            fm_philox4 v = fm_philox_element((uint64_t)r->o.seed, (uint64_t)(aug + b), 3);
            dy = (int)(v.v[0] % (uint32_t)(2 * P + 1)) - P;
            dx = (int)(v.v[1] % (uint32_t)(2 * P + 1)) - P;
        }
        digit_in(r->xb + (size_t)b * 784, ds->images + (size_t)k * 784, dy, dx);
        r->yb[b] = ds->labels[k];
    }
    *x = fm_tensor_slice(r->x, 0, n);
    return fm_upload(&r->be, x, r->xb);
}

/* Accuracy of the current weights over ds (forward only). */
static int accuracy(cls_run *r, const fm_dataset *ds, double *acc)
{
    int64_t ok = 0;
    for (int64_t s = 0; s < ds->n; s += r->o.batch) {
        int n = (int)(ds->n - s < r->o.batch ? ds->n - s : r->o.batch);
        fm_tensor x, lg = fm_tensor_slice(r->logits, 0, n);
        if (batch_in(r, ds, NULL, s, n, -1, &x) != FM_OK ||
            fm_classifier_forward(&r->c, &x, NULL, &lg) != FM_OK ||
            fm_download(&r->be, r->lb, &lg) != FM_OK)
            return cli_error("%s", r->be.err);
        ok += fm_classifier_count_correct(r->lb, r->yb, n);
    }
    *acc = 100.0 * (double)ok / (double)ds->n;
    return 0;
}

static int epoch(cls_run *r, const fm_cls_opts *opts, uint64_t e, uint64_t *step)
{
    double t0 = cli_now(), sum = 0;
    int64_t ok = 0, n_all = r->train.n, nsteps = 0;
    cli_shuffle(r->perm, n_all, (uint64_t)r->o.seed, e);
    for (int64_t s = 0; s < n_all; s += r->o.batch, nsteps++) {
        int n = (int)(n_all - s < r->o.batch ? n_all - s : r->o.batch), good = 0;
        float loss;
        fm_tensor x;
        /* Cosine schedule over the whole run: lr_t = lr (1 + cos(pi t / T)) / 2. */
        fm_cls_opts o = *opts;
        double T = (double)r->o.epochs * (double)((n_all + r->o.batch - 1) / r->o.batch);
        o.lr = (float)(opts->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)*step / T)));
        if (batch_in(r, &r->train, r->perm, s, n, (int64_t)e * n_all + s, &x) != FM_OK ||
            fm_classifier_train_step(&r->c, &o, &x, r->yb, ++*step, &loss, &good) != FM_OK)
            return cli_error("%s", r->be.err);
        sum += loss * n;
        ok += good;
    }
    fprintf(stderr,
            "epoch %llu/%lld: loss %.4f, train accuracy %.1f%% (during the epoch), %lld "
            "steps in %.1f s\n",
            (unsigned long long)e + 1, r->o.epochs, sum / (double)n_all,
            100.0 * (double)ok / (double)n_all, (long long)nsteps, cli_now() - t0);
    return 0;
}

static int setup(cls_run *r)
{
    cli_files outs = {0}, ins = {0};
    cli_files_add(&outs, "--out", r->o.out);
    cli_files_add_data(&ins, "--data", r->o.data); /* --out must not replace the digits */
    if (cli_check_outputs(&outs, &ins) || load_split(r->o.data, "train", &r->train, &r->train_mem))
        return 1;
    if (r->o.limit && r->o.limit < r->train.n)
        r->train.n = (int)r->o.limit;
    /* As fmrt train: a run on less than one batch learns nothing worth saving. */
    if (r->train.n < r->o.batch)
        return cli_error("the data has %d digits, fewer than one batch of %lld (a smaller "
                         "--batch, or a larger --limit)",
                         r->train.n, r->o.batch);
    char im[1024], lb[1024], err[512];
    r->have_test = fm_mnist_find(r->o.data, "t10k", im, lb, sizeof im, err, sizeof err) == FM_OK;
    if (r->have_test && load_split(r->o.data, "t10k", &r->test, &r->test_mem))
        return 1;
    int B = (int)r->o.batch;
    r->xb = malloc(sizeof(float) * 784 * (size_t)B);
    r->lb = malloc(sizeof(float) * FM_CLS_CLASSES * (size_t)B);
    r->yb = malloc(sizeof(int32_t) * (size_t)B);
    r->perm = malloc(sizeof(uint32_t) * (size_t)r->train.n);
    if (!r->xb || !r->lb || !r->yb || !r->perm)
        return cli_error("out of host memory");
    if (cli_open_backend(&r->be, r->o.backend, fm_classifier_arena_bytes(B, FM_MODE_TRAIN),
                         &r->be_mem))
        return 1;
    r->be_open = 1;
    r->x = fm_tensor_4d(FM_F32, B, 1, FM_CLS_IMAGE, FM_CLS_IMAGE);
    r->logits = fm_tensor_2d(FM_F32, B, FM_CLS_CLASSES);
    if (fm_classifier_create(&r->c, &r->be, B, FM_MODE_TRAIN) != FM_OK ||
        fm_classifier_init(&r->c, (uint64_t)r->o.seed) != FM_OK ||
        fm_tensor_alloc(&r->be, &r->x) != FM_OK || fm_tensor_alloc(&r->be, &r->logits) != FM_OK)
        return cli_error("%s", r->be.err);
    return 0;
}

static int save(cls_run *r)
{
    fm_arena a;
    if (cli_host_arena(&a, fm_classifier_save_scratch(), &r->save_mem))
        return 1;
    if (fm_classifier_save(&r->c, r->o.out, &a) != FM_OK)
        return cli_error("%s", r->be.err);
    return 0;
}

static int train(cls_run *r)
{
    fm_cls_opts opts = fm_cls_defaults();
    opts.lr = (float)r->o.lr;
    uint64_t step = 0;
    double t0 = cli_now(), acc;
    fprintf(stderr,
            "training classifier on %d digits (%lld parameters), batch %lld, %lld epochs, "
            "backend %s\n",
            r->train.n, (long long)r->c.nfloats, r->o.batch, r->o.epochs, fm_backend_name(&r->be));
    for (uint64_t e = 0; e < (uint64_t)r->o.epochs; e++)
        if (epoch(r, &opts, e, &step))
            return 1;
    if (accuracy(r, &r->train, &acc))
        return 1;
    fprintf(stderr, "train accuracy %.2f%% (%d digits)\n", acc, r->train.n);
    if (r->have_test) {
        if (accuracy(r, &r->test, &acc))
            return 1;
        fprintf(stderr, "test accuracy %.2f%% (%d digits)\n", acc, r->test.n);
    }
    if (save(r))
        return 1;
    fprintf(stderr, "%llu steps in %.1f s; wrote %s\n", (unsigned long long)step, cli_now() - t0,
            r->o.out);
    return 0;
}

int cmd_train_classifier(int argc, char **argv)
{
    cls_run r = {0};
    int rc = parse(argc, argv, &r.o);
    if (rc == CLI_HELP) {
        usage();
        return 0;
    }
    if (rc)
        return rc;
    rc = setup(&r) || train(&r);
    if (r.be_open)
        fm_backend_close(&r.be);
    cli_mem_free(&r.be_mem);
    cli_mem_free(&r.train_mem);
    cli_mem_free(&r.test_mem);
    cli_mem_free(&r.save_mem);
    free(r.xb);
    free(r.lb);
    free(r.yb);
    free(r.perm);
    return rc;
}
