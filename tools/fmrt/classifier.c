/* fmrt train-classifier: train the classifier of model/classifier.h (the
 * sample-quality meter of fmrt eval) on any labelled data set (cli_data_open), at the
 * data's channels, size and classes; report train (and, when the set has a test
 * split, test) accuracy, and write a classifier weights file recording the data's
 * absolute path (text.data) and its class names (text.classes) when it has them. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <errno.h>
#include <limits.h>
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
    const char *data, *backend, *out, *class_names;
    long long epochs, batch, seed, limit, shift;
    double lr;
} cls_cli;

static void usage(void)
{
    printf("usage: fmrt train-classifier --data PATH --out FILE [options]\n\n"
           "Trains the classifier of fmrt eval (3 convs, 2 linears) on a labelled data\n"
           "set's training split and writes its weights; its shape (channels, size) and\n"
           "classes come from the data, and the file records the data's path and class\n"
           "names. Reports test accuracy when the set has a test split.\n\n"
           "  --data PATH      a labelled set: a folder of IDX files (train-*, t10k-*),\n"
           "                   CIFAR-10 batches, class sub-folders of images, or a pack;\n"
           "                   square images of 8..256 pixels (a multiple of 4), 2..256 classes\n"
           "  --out FILE       weights file to write (crash-safe)\n"
           "  --epochs N       passes over the data (default 3)\n"
           "  --shift P        training images moved by up to P pixels each way, at random\n"
           "                   (default 2; 0: none): the data augmentation\n"
           "  --batch B        batch size (default 64)\n"
           "  --lr X           AdamW learning rate at the start (default 0.001), decayed to 0\n"
           "                   over the run along a cosine\n"
           "  --seed S         initialisation and shuffling seed (default 0)\n"
           "  --limit N        use only the first N training images\n"
           "  --class-names L  the classes' names, recorded in the classifier (a,b,c or @FILE\n"
           "                   with one per line; default: the set's own, e.g. class folders):\n"
           "                   fmrt eval prints them and checks a model's against them\n"
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
    else if (strcmp(a, "--class-names") == 0)
        str = &o->class_names;
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
        return cli_usage_error(CMD, "--data PATH missing");
    if (!o->out)
        return cli_usage_error(CMD, "--out FILE missing");
    return 0;
}

/* What a run holds; every field starts zeroed. */
typedef struct cls_run {
    cls_cli o;
    fm_config cfg; /* the classifier's: the data's C, S and K */
    cli_data train, test;
    cli_mem be_mem, save_mem;
    int have_test, be_open;
    fm_backend be;
    fm_model c;
    fm_tensor x, logits;
    float *xb, *lb;    /* host batch [B,C,S,S], logits [B,K] */
    int32_t *yb;       /* host labels [B] */
    uint8_t *pb, *lab; /* a batch's rows as stored: [B,C,S,S] u8, labels [B] */
    uint32_t *rows;    /* [B] row indices of an in-order batch */
    uint32_t *perm;    /* [n] */
    char data_text[FM_TEXT_MAX], class_text[FM_TEXT_MAX];
    fm_text data, classes; /* the record written with the weights */
} cls_run;

/* Image px (C planes of S x S) into out (p -> p / 127.5 - 1), moved by (dy, dx)
 * pixels; what moves in from outside the frame is background (-1) in every channel. */
static void image_in(float *out, const uint8_t *px, int C, int S, int dy, int dx)
{
    for (int ch = 0; ch < C; ch++, out += S * S, px += S * S)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int sy = y - dy, sx = x - dx;
                int in = sy >= 0 && sy < S && sx >= 0 && sx < S;
                out[y * S + x] = in ? (float)px[sy * S + sx] / 127.5f - 1.0f : -1.0f;
            }
}

/* Rows idx[0..n) of d into r->xb and r->yb; upload. aug >= 0 (training with
 * --shift P): each image moved by dy, dx uniform in [-P, P], from Philox(seed) at
 * element aug + b, stream 3, so a run is reproducible. */
static int batch_in(cls_run *r, cli_data *d, const uint32_t *idx, int n, int64_t aug, fm_tensor *x)
{
    const int P = (int)r->o.shift, C = r->cfg.in_channels, S = r->cfg.image;
    const size_t frame = (size_t)C * S * S;
    if (cli_data_rows(d, idx, n, r->pb, r->lab))
        return 1;
    for (int b = 0; b < n; b++) {
        int dy = 0, dx = 0;
        if (aug >= 0 && P > 0) {
            fm_philox4 v = fm_philox_element((uint64_t)r->o.seed, (uint64_t)(aug + b), 3);
            dy = (int)(v.v[0] % (uint32_t)(2 * P + 1)) - P;
            dx = (int)(v.v[1] % (uint32_t)(2 * P + 1)) - P;
        }
        image_in(r->xb + (size_t)b * frame, r->pb + (size_t)b * frame, C, S, dy, dx);
        r->yb[b] = r->lab[b];
    }
    *x = fm_tensor_slice(r->x, 0, n);
    if (fm_upload(&r->be, x, r->xb) != FM_OK)
        return cli_error("%s", r->be.err);
    return 0;
}

/* Accuracy of the current weights over d (forward only, in order). */
static int accuracy(cls_run *r, cli_data *d, double *acc)
{
    int64_t ok = 0;
    const int K = fm_classifier_classes(&r->cfg);
    for (int64_t s = 0; s < d->ds.n; s += r->o.batch) {
        int n = (int)(d->ds.n - s < r->o.batch ? d->ds.n - s : r->o.batch);
        fm_tensor x, lg = fm_tensor_slice(r->logits, 0, n);
        for (int b = 0; b < n; b++)
            r->rows[b] = (uint32_t)(s + b);
        if (batch_in(r, d, r->rows, n, -1, &x))
            return 1;
        if (fm_classifier_forward(&r->c, &x, NULL, &lg) != FM_OK ||
            fm_download(&r->be, r->lb, &lg) != FM_OK)
            return cli_error("%s", r->be.err);
        ok += fm_classifier_count_correct(r->lb, r->yb, n, K);
    }
    *acc = 100.0 * (double)ok / (double)d->ds.n;
    return 0;
}

static int epoch(cls_run *r, const fm_cls_opts *opts, uint64_t e, uint64_t *step)
{
    double t0 = cli_now(), sum = 0;
    int64_t ok = 0, n_all = r->train.ds.n, nsteps = 0;
    cli_shuffle(r->perm, n_all, (uint64_t)r->o.seed, e);
    for (int64_t s = 0; s < n_all; s += r->o.batch, nsteps++) {
        int n = (int)(n_all - s < r->o.batch ? n_all - s : r->o.batch), good = 0;
        float loss;
        fm_tensor x;
        /* Cosine schedule over the whole run: lr_t = lr (1 + cos(pi t / T)) / 2. */
        fm_cls_opts o = *opts;
        double T = (double)r->o.epochs * (double)((n_all + r->o.batch - 1) / r->o.batch);
        o.lr = (float)(opts->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)*step / T)));
        if (batch_in(r, &r->train, r->perm + s, n, (int64_t)e * n_all + s, &x))
            return 1;
        if (s + n < n_all) /* a pack's reader fetches the next batch meanwhile */
            cli_data_prefetch(&r->train, r->perm + s + n,
                              (int)(n_all - s - n < r->o.batch ? n_all - s - n : r->o.batch));
        if (fm_classifier_train_step(&r->c, &o, &x, r->yb, ++*step, &loss, &good) != FM_OK)
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

/* The record the weights carry: text.data "data=<absolute path>", and text.classes
 * when the set names its K classes (CIFAR-10's batches.meta.txt, class folders, a
 * pack's names). */
static int record(cls_run *r)
{
    char abs[PATH_MAX];
    int lines = r->train.names[0] != 0;
    for (const char *c = r->train.names; *c; c++)
        lines += *c == '\n';
    if (!realpath(r->o.data, abs))
        return cli_error("cannot record the data's path %s: %s", r->o.data, strerror(errno));
    int k = snprintf(r->data_text, sizeof r->data_text, "data=%s", abs);
    if (k < 0 || (size_t)k >= sizeof r->data_text)
        return cli_error("cannot record the data's path %s: too long", abs);
    r->data = (fm_text){r->data_text, (size_t)k};
    size_t n = 0;
    if (r->o.class_names) { /* the flag names them (an IDX set names none) */
        if (cli_class_names(r->o.class_names, fm_classifier_classes(&r->cfg), r->class_text,
                            sizeof r->class_text, &n))
            return 1;
        r->classes = (fm_text){r->class_text, n};
    } else if (lines == fm_classifier_classes(&r->cfg)) {
        r->classes = (fm_text){r->train.names, strlen(r->train.names)};
    }
    return 0;
}

/* The training split at the data's own shape, which with its classes makes the
 * classifier's config; the test split (when the set has one) at that shape. */
static int open_data(cls_run *r)
{
    const cli_data_want own = {0};
    char msg[200];
    if (cli_data_open(r->o.data, NULL, NULL, "train", &own, &r->train))
        return 1;
    const fm_dataset *ds = &r->train.ds;
    const int K = r->train.num_classes;
    if (K < 2)
        return cli_error("%s holds unlabelled images (%s, every label 0): a classifier learns "
                         "2 or more classes (class sub-folders, IDX labels, CIFAR-10 batches "
                         "or a labelled pack)",
                         r->o.data, r->train.kind);
    if (fm_classifier_config(&r->cfg, ds->c, ds->h, K, msg, sizeof msg) != FM_OK)
        return cli_error("%s: %dx%dx%d images in %d classes do not fit the classifier: %s",
                         r->o.data, ds->c, ds->h, ds->w, K, msg);
    if (r->o.limit && r->o.limit < r->train.ds.n)
        r->train.ds.n = (int)r->o.limit;
    r->have_test = cli_data_has_split(r->o.data, "test");
    const cli_data_want same = {.image = ds->h, .channels = ds->c, .num_classes = K};
    if (r->have_test && cli_data_open(r->o.data, NULL, NULL, "test", &same, &r->test))
        return 1;
    return record(r);
}

static int setup(cls_run *r)
{
    cli_files outs = {0}, ins = {0};
    cli_files_add(&outs, "--out", r->o.out);
    cli_files_add_data(&ins, "--data", r->o.data); /* --out must not replace the data */
    if (cli_check_outputs(&outs, &ins) || open_data(r))
        return 1;
    /* As fmrt train: a run on less than one batch learns nothing worth saving. */
    if (r->train.ds.n < r->o.batch)
        return cli_error("the data has %d images, fewer than one batch of %lld (a smaller "
                         "--batch, or a larger --limit)",
                         r->train.ds.n, r->o.batch);
    const int B = (int)r->o.batch, C = r->cfg.in_channels, S = r->cfg.image;
    const int K = fm_classifier_classes(&r->cfg);
    const size_t frame = (size_t)C * S * S;
    r->xb = malloc(sizeof(float) * frame * (size_t)B);
    r->lb = malloc(sizeof(float) * (size_t)K * (size_t)B);
    r->yb = malloc(sizeof(int32_t) * (size_t)B);
    r->pb = malloc(frame * (size_t)B);
    r->lab = malloc((size_t)B);
    r->rows = malloc(sizeof(uint32_t) * (size_t)B);
    r->perm = malloc(sizeof(uint32_t) * (size_t)r->train.ds.n);
    if (!r->xb || !r->lb || !r->yb || !r->pb || !r->lab || !r->rows || !r->perm)
        return cli_error("out of host memory");
    if (cli_open_backend(&r->be, r->o.backend, fm_classifier_arena_bytes(&r->cfg, B, FM_MODE_TRAIN),
                         &r->be_mem))
        return 1;
    r->be_open = 1;
    r->x = fm_tensor_4d(FM_F32, B, C, S, S);
    r->logits = fm_tensor_2d(FM_F32, B, K);
    if (fm_classifier_create(&r->c, &r->be, &r->cfg, B, FM_MODE_TRAIN) != FM_OK ||
        fm_classifier_init(&r->c, (uint64_t)r->o.seed) != FM_OK ||
        fm_tensor_alloc(&r->be, &r->x) != FM_OK || fm_tensor_alloc(&r->be, &r->logits) != FM_OK)
        return cli_error("%s", r->be.err);
    return 0;
}

static int save(cls_run *r)
{
    fm_arena a;
    if (cli_host_arena(&a, fm_classifier_save_scratch(&r->cfg), &r->save_mem))
        return 1;
    if (fm_classifier_save(&r->c, r->o.out, &r->data, &r->classes, &a) != FM_OK)
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
            "training classifier (%dx%dx%d, %d classes) on %d images of %s (%s), %lld "
            "parameters, batch %lld, %lld epochs, backend %s\n",
            r->cfg.in_channels, r->cfg.image, r->cfg.image, fm_classifier_classes(&r->cfg),
            r->train.ds.n, r->o.data, r->train.kind, (long long)r->c.nfloats, r->o.batch,
            r->o.epochs, fm_backend_name(&r->be));
    for (uint64_t e = 0; e < (uint64_t)r->o.epochs; e++)
        if (epoch(r, &opts, e, &step))
            return 1;
    if (accuracy(r, &r->train, &acc))
        return 1;
    fprintf(stderr, "train accuracy %.2f%% (%d images)\n", acc, r->train.ds.n);
    if (r->have_test) {
        if (accuracy(r, &r->test, &acc))
            return 1;
        fprintf(stderr, "test accuracy %.2f%% (%d images)\n", acc, r->test.ds.n);
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
    cli_data_close(&r.train);
    cli_data_close(&r.test);
    cli_mem_free(&r.save_mem);
    free(r.xb);
    free(r.lb);
    free(r.yb);
    free(r.pb);
    free(r.lab);
    free(r.rows);
    free(r.perm);
    return rc;
}
