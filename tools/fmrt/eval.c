/* fmrt eval: a number for how good generated images are.
 *
 * The images (a weights file sampled here, a data set, an IDX file or raw u8 images)
 * go through a classifier (model/classifier.h): the shipped MNIST one by default, or
 * --classifier FILE of any shape C x S x S and K classes (fmrt train-classifier).
 * From its outputs:
 *   FID   Frechet distance between the 128 penultimate features of the images and
 *         those of a reference set (fid.h), from the same classifier: comparable
 *         only between runs of one classifier and one reference, never with
 *         published (Inception) FIDs;
 *   conf  mean of the largest softmax probability (how sure the classifier is);
 *   kl    KL(h || uniform) = sum_k h_k ln(K h_k) of the histogram h of predicted
 *         classes (0 when every class is equally common: coverage);
 *   acc   with labels (asked-for classes of a conditional model, --labels, or a
 *         labelled set's own): the share classified as their label.
 * The reference defaults to the classifier's own data (its text.data: the test split,
 * else the training one), and for a classifier that records none (the shipped one)
 * to the shipped statistics of the 10k MNIST test digits (mnist-test.fms, made by
 * `fmrt eval DIR --save-stats`).
 *
 * What the numbers mean depends on the classifier knowing the images' data set:
 * a model of another shape or class count than the classifier's is refused; a model,
 * reference or statistics file whose recorded data (or class names) differ from the
 * classifier's gets one warning line naming both.
 *
 * Latent flow matching (docs/spec/vae.md): a latent model's samples are decoded by its
 * autoencoder before they are measured; an autoencoder as SAMPLES is measured by its
 * reconstructions of --data's test images: their PSNR, and the rows above with the
 * originals and unseen real images as the floors.
 *
 * Prompt adherence (--prompts FILE, a text model): K images per prompt, each scored
 * for the digit its prompt names (the classifier: 10 digits, or colour MNIST's 80
 * classes, the digit the largest summed probability over the 8 colours) and the colour
 * (the stroke pixels' mean RGB against colour MNIST's 8 colours); a table per prompt,
 * overall, and for the seen and held-out (colour, digit) pairs. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "classifier_io.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_colour.h"
#include "cli_data.h"
#include "cli_eval.h"
#include "cli_info.h"
#include "cli_mem.h"
#include "cli_text.h"
#include "cli_vaecmd.h"
#include "commands.h"
#include "fid.h"
#include "flow.h"
#include "philox.h"
#include "size.h"

#define CMD "eval"
#define DIM FM_CLS_FEATURES
#define CLS_BATCH 250
#define DEFAULT_CLASSIFIER "classifier.fmw"
#define DEFAULT_REF "mnist-test.fms"
#define DEFAULT_COLOUR_CLASSIFIER "colour-mnist-classifier.fmw"

static void usage(void)
{
    printf("usage: fmrt eval SAMPLES [options]\n"
           "       fmrt eval --sanity --ref DATA [options]\n\n"
           "Sample quality through a classifier (the shipped MNIST one, or --classifier):\n"
           "FID to a reference set in the classifier's 128 penultimate features, mean\n"
           "confidence, KL of the class histogram to uniform, and with labels the share\n"
           "classified as asked. These FIDs are not comparable with published (Inception)\n"
           "FIDs, only with each other for one classifier and one reference.\n\n"
           "SAMPLES is a weights file (then N images are sampled here; its shape and classes\n"
           "must be the classifier's), a data set (a folder of IDX files, CIFAR-10 batches or\n"
           "images, or a pack: its test split, else train, fitted to the classifier's shape),\n"
           "an IDX image file (.gz or raw) or raw u8 images (N x C x S x S bytes).\n"
           "A bare name missing here (SAMPLES, --ref, --classifier) is a shipped file: the\n"
           "installed share/fmrt, then the source tree's model/ (fmrt eval tiny-cond.fmw).\n"
           "Files are read once from their start: a FIFO or <(...) works for images.\n"
           "FID needs more than 128 images on each side (its 128x128 covariances; 1000+\n"
           "for a stable number): with fewer, a warning line says so and FID is a rough sign.\n"
           "--labels must hold as many labels as the images file holds images.\n"
           "A latent model (fmrt train --vae) is decoded by its autoencoder (the one it\n"
           "recorded, or --vae). An autoencoder (fmrt train-vae) as SAMPLES reconstructs\n"
           "the first N images of --data (its test split, else train; also the default\n"
           "reference): a row for the reconstructions with their PSNR (dB, over the u8\n"
           "pixels as sample quantises them, scaled to [0, 1], the MSE of all N images),\n"
           "one for the originals and one for N unseen training images (the floors).\n\n"
           "  --ref PATH         reference: a data set (its test split, else train), IDX, raw\n"
           "                     images or a statistics file (default: the classifier's\n"
           "                     recorded data; for the shipped one " DEFAULT_REF ",\n"
           "                     the 10k MNIST test digits)\n"
           "  --labels FILE      labels of SAMPLES (IDX1 or raw u8); a data set brings its own\n"
           "  --n N              images: sampled (default 1000), or the first N of a file\n"
           "                     (a note says when the file holds fewer)\n"
           "  --save-stats FILE  write the feature statistics of SAMPLES (a --ref for later;\n"
           "                     they record the classifier and where the images came from)\n"
           "  --json             print one JSON object instead of the line\n"
           "  --sanity           the scale's ends on the --ref images: their two halves, their\n"
           "                     first N blurred, and N images of uniform noise\n"
           "  --classifier FILE  (default: the shipped " DEFAULT_CLASSIFIER "); its class names,\n"
           "                     when it records them, give a line per class\n"
           "  --backend NAME     ref, cpu, opencl, cuda or auto (default auto)\n"
           "  --precision P      f32 (default) or bf16: cpu, 3x3 convs on bfloat16 operands\n"
           "sampling (SAMPLES a weights file):\n"
           "  --steps N          (default 50)     --sampler euler|heun (default euler)\n"
           "  --seed S           noise of batch b: Philox(S), stream b (default 0)\n"
           "  --classes 0,1,..   conditional models: labels cycling through the list\n"
           "                     (default 0..K-1); --class K: all of class K\n"
           "  --cfg W            guidance scale (default 2.0; 1 = conditional only)\n"
           "  --raw              the raw weights instead of the EMA\n"
           "  --vae F            a latent model's autoencoder, instead of the recorded one\n"
           "  --batch B          images per sampling batch (default 250)\n"
           "  --samples-out F    the sampled N x C x S x S u8 pixels, no header\n"
           "autoencoder (SAMPLES an autoencoder's weights file):\n"
           "  --data PATH        the data set to reconstruct (required)\n"
           "output:\n"
           "  --classes-out F    the classifier's class of each image of SAMPLES, one u8\n"
           "                     each, no header (to compare two runs image by image)\n"
           "prompt adherence (SAMPLES a text model, fmrt train --captions):\n"
           "  --prompts FILE     one prompt a line (\"a red 7\"; blank lines and lines starting\n"
           "                     with '#' skipped). Each names a digit 0..9 (\"7\" or \"seven\"),\n"
           "                     one of colour MNIST's 8 colours, or both, and is scored for\n"
           "                     what it names: digit (the classifier's), colour (the mean RGB\n"
           "                     of the stroke pixels, max channel >= 128, nearest up to\n"
           "                     brightness of the 8) and both. A table per prompt, overall and\n"
           "                     for the seen and held-out pairs (no FID)\n"
           "  --n-per-prompt K   images per prompt (default 100), sampled in --batch batches;\n"
           "                     noise of batch b: Philox(--seed), stream b, as without prompts\n"
           "  --held-out PAIRS   the pairs the training left out, \"red 7,green 2\" (default:\n"
           "                     the model's record, text.data held_out=)\n"
           "  --csv FILE         the table as CSV too (accuracies as fractions)\n"
           "  --vocab FILE       a CLIP-BPE model's vocabulary (default: the one it records)\n"
           "  default classifier: " DEFAULT_COLOUR_CLASSIFIER " for an RGB model, else\n"
           "  " DEFAULT_CLASSIFIER "; one of 10 digit classes or colour MNIST's 80\n");
}

typedef cli_eval_opts eval_opts;

/* A set of images of the classifier's shape in host memory. */
typedef struct imageset {
    int64_t n, total;  /* images held, of total in the file they came from */
    uint8_t *px;       /* [n, C, S, S], malloc'd */
    int32_t *labels;   /* [n] or NULL, malloc'd */
    const char *split; /* a data set's split read ("test", "train"); NULL: a file */
    int classes;       /* a data set's class count (0: a file, or unlabelled) */
} imageset;

/* A batch of sampling on the sampler's backend: the state x (a latent model's: its
 * latents), img the state decoded (a latent model's only), q its pixels, y labels. */
typedef struct batch_t {
    fm_tensor x, img, q, y;
} batch_t;

/* What a run holds; every field starts zeroed. */
typedef struct ev {
    eval_opts o;
    char cls_path[CLI_WEIGHTS_PATH], ref_path[CLI_WEIGHTS_PATH], samples_path[CLI_WEIGHTS_PATH];
    fm_weights cw; /* the classifier file, in cmem until uploaded */
    cli_mem cmem, bemem;
    fm_backend be;
    int be_open;
    fm_model c;
    fm_config ccfg;                  /* the classifier's config */
    int C, S, K;                     /* its images' channels and side, its classes */
    size_t frame;                    /* C S S: bytes of one u8 image */
    char cls_data[FM_TEXT_MAX + 1];  /* its text.data ("" when it records none) */
    char cls_names[FM_TEXT_MAX + 1]; /* its class names, '\n'-separated ("": none) */
    char name_buf[FM_TEXT_MAX + 1];  /* the same, NUL-separated: name[k] points in */
    const char *name[FM_CLS_MAX_CLASSES];
    int nnames;
    fm_tensor x, feat, logits; /* [CLS_BATCH, ...] on the backend */
    float *xb, *lb;            /* host [CLS_BATCH, C S S] pixels, [CLS_BATCH, K] logits */
    imageset samples, ref;
    cli_stats ref_stats;
    int have_ref_stats;
    int list[CLI_MAX_LIST], nlist; /* --classes */
    double sample_seconds;         /* 0: SAMPLES was not sampled here */
    /* An autoencoder as SAMPLES (recon = 1): the originals it reconstructed, the
     * reconstructions' PSNR and what their row is called. */
    int recon;
    imageset orig;
    double psnr;
    char what[512];
    /* --prompts: the prompts' token ids [np, L] (image i has prompt i / per), and the
     * classifier's default name (by the model's channels) */
    const int32_t *ids;
    int L, per;
    const char *cls_default;
} ev;

/* What the classifier says about one set. */
typedef struct metrics {
    int64_t n, hist[FM_CLS_MAX_CLASSES], labelled, correct;
    int64_t asked[FM_CLS_MAX_CLASSES], right[FM_CLS_MAX_CLASSES]; /* per label */
    uint8_t *top;         /* [n]: each image's class, or NULL (not kept) */
    double conf, kl, fid; /* fid NAN when not computed */
    double psnr;          /* an autoencoder's reconstructions only; else NAN */
    cli_stats stats;
} metrics;

/* ---- options -------------------------------------------------------------------------- */

static int take(eval_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], **str = NULL;
    long long *num = NULL, lo = 1, hi = 1ll << 31;
    /* clang-format off */
    if (strcmp(a, "--ref") == 0) str = &o->ref;
    else if (strcmp(a, "--labels") == 0) str = &o->labels;
    else if (strcmp(a, "--classifier") == 0) str = &o->classifier;
    else if (strcmp(a, "--backend") == 0) str = &o->backend;
    else if (strcmp(a, "--sampler") == 0) str = &o->sampler;
    else if (strcmp(a, "--classes") == 0) str = &o->classes;
    else if (strcmp(a, "--save-stats") == 0) str = &o->save_stats;
    else if (strcmp(a, "--samples-out") == 0) str = &o->samples_out;
    else if (strcmp(a, "--classes-out") == 0) str = &o->classes_out;
    else if (strcmp(a, "--vae") == 0) str = &o->vae;
    else if (strcmp(a, "--data") == 0) str = &o->data;
    else if (strcmp(a, "--prompts") == 0) str = &o->prompts;
    else if (strcmp(a, "--held-out") == 0) str = &o->held_out;
    else if (strcmp(a, "--csv") == 0) str = &o->csv;
    else if (strcmp(a, "--vocab") == 0) str = &o->vocab;
    else if (strcmp(a, "--n-per-prompt") == 0)
        num = &o->per_prompt, o->have_per_prompt = 1, hi = 1 << 20;
    else if (strcmp(a, "--n") == 0) num = &o->n, o->have_n = 1, hi = 1ll << 30;
    else if (strcmp(a, "--steps") == 0) num = &o->steps, hi = 100000;
    else if (strcmp(a, "--seed") == 0) num = &o->seed, lo = 0, hi = 1ll << 62;
    else if (strcmp(a, "--batch") == 0) num = &o->batch, hi = 4096;
    else if (strcmp(a, "--class") == 0) num = &o->cls, lo = 0, hi = 1000, o->have_cls = 1;
    else if (strcmp(a, "--cfg") != 0) return cli_usage_error(CMD, "unknown option '%s'", a);
    /* clang-format on */
    if (*i + 1 >= argc)
        return cli_usage_error(CMD, "%s needs a value", a);
    const char *v = argv[++*i];
    if (str) {
        *str = v;
        return 0;
    }
    if (num)
        return cli_int(a, v, lo, hi, num) ? 2 : 0;
    o->have_cfg = 1;
    return cli_float(a, v, -100, 100, &o->cfg) ? 2 : 0;
}

static int check_args(const eval_opts *o)
{
    if (!o->samples && !o->sanity)
        return cli_usage_error(CMD, "SAMPLES missing (a weights, IDX or raw file, or a folder)");
    if (o->samples && o->sanity)
        return cli_usage_error(CMD, "--sanity measures the --ref images: give no SAMPLES");
    if (o->sanity && (!o->ref || o->save_stats || o->labels || o->classes_out || o->data))
        return cli_usage_error(CMD, "--sanity needs --ref IMAGES and takes no --save-stats, "
                                    "--labels, --classes-out or --data");
    if (strcmp(o->sampler, "euler") != 0 && strcmp(o->sampler, "heun") != 0)
        return cli_usage_error(CMD, "--sampler must be euler or heun, not '%s'", o->sampler);
    if (o->have_cls && o->classes)
        return cli_usage_error(CMD, "give --class or --classes, not both");
    if (!o->prompts && (o->have_per_prompt || o->held_out || o->csv || o->vocab))
        return cli_usage_error(CMD,
                               "--n-per-prompt/--held-out/--csv/--vocab are for --prompts FILE");
    if (o->prompts && (o->sanity || o->ref || o->labels || o->classes || o->have_cls ||
                       o->have_n || o->save_stats || o->classes_out || o->data || o->json))
        return cli_usage_error(CMD, "--prompts scores a text model's samples by prompt: "
                                    "--ref/--labels/--class/--classes/--n/--save-stats/"
                                    "--classes-out/--data/--json do not apply (--n-per-prompt, "
                                    "--csv)");
    return 0;
}

int parse_eval_args(int argc, char **argv, eval_opts *o)
{
    *o = (eval_opts){
        .n = 1000, .steps = 50, .seed = 0, .batch = 250, .cfg = 2.0, .sampler = "euler",
        .per_prompt = 100};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (strcmp(a, "--raw") == 0)
            o->raw = 1;
        else if (strcmp(a, "--sanity") == 0)
            o->sanity = 1;
        else if (strcmp(a, "--json") == 0)
            o->json = 1;
        else if (strncmp(a, "--", 2) != 0 && !o->samples)
            o->samples = a;
        else if (strncmp(a, "--", 2) != 0)
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        else
            rc = take(o, argc, argv, &i);
        if (rc)
            return rc;
    }
    return check_args(o);
}

/* ---- images in ---------------------------------------------------------------------------- */

static void images_free(imageset *d)
{
    free(d->px);
    free(d->labels);
    *d = (imageset){0};
}

/* "28x28" (grey) or "3x32x32": the classifier's image shape, for messages. */
static const char *shape_text(const ev *e, char *buf, size_t len)
{
    if (e->C == 1)
        snprintf(buf, len, "%dx%d", e->S, e->S);
    else
        snprintf(buf, len, "%dx%dx%d", e->C, e->S, e->S);
    return buf;
}

/* IDX (gzip'd, or the IDX magic 0 0 TYPE NDIM with any of IDX's types, so that the
 * parser names one other than u8) or not, from its first bytes. */
static int is_idx(const unsigned char *h, size_t len)
{
    int type = len >= 4 && !h[0] && !h[1] && h[3] >= 1 && h[3] <= 4 ? h[2] : 0;
    return (len >= 2 && h[0] == 0x1f && h[1] == 0x8b) || type == 8 || type == 9 ||
           (type >= 0x0b && type <= 0x0e);
}

/* An IDX file's bytes (raw or gzip'd, already in memory) parsed into idx, in *mem. */
static int parse_idx(const char *path, const unsigned char *buf, size_t len, fm_idx *idx,
                     cli_mem *mem)
{
    char err[512];
    size_t bytes = len, need;
    fm_arena a;
    /* A gzip member ends with its length mod 2^32 (RFC 1952 ISIZE): the payload's. */
    if (len >= 18 && buf[0] == 0x1f && buf[1] == 0x8b)
        bytes = (size_t)buf[len - 4] | (size_t)buf[len - 3] << 8 | (size_t)buf[len - 2] << 16 |
                (size_t)buf[len - 1] << 24;
    if (!fm_add_size(bytes, 1 << 20, &need)) /* plus zlib's state */
        return cli_error("%s: too large for this address space", path);
    if (cli_host_arena(&a, need, mem))
        return 1;
    if (fm_idx_parse(buf, len, path, &a, idx, err, sizeof err) != FM_OK) {
        cli_mem_free(mem);
        return cli_error("%s", err);
    }
    return 0;
}

/* The first `limit` items of an IDX file's bytes (images: [N,S,S], grey, the
 * classifier's S; labels: [N]) into *dst (malloc'd); *n of them, of *total in the
 * file. S = 0: labels. */
static int from_idx(const char *path, const unsigned char *buf, size_t len, int S, int64_t limit,
                    void **dst, int64_t *n, int64_t *total)
{
    fm_idx idx;
    cli_mem mem = {0};
    const int want_ndim = S ? 3 : 1;
    if (parse_idx(path, buf, len, &idx, &mem))
        return 1;
    int rc = 0;
    if (idx.ndim != want_ndim || (S && (idx.dims[1] != (uint32_t)S || idx.dims[2] != (uint32_t)S)))
        rc = S ? cli_error("%s: %s, not %dx%d images", path,
                           idx.ndim == 1 ? "a label file" : "IDX data", S, S)
               : cli_error("%s: %s, not labels", path, idx.ndim == 1 ? "a label file" : "IDX data");
    const size_t px = (size_t)S * (size_t)S, item = S ? px : sizeof(int32_t);
    int64_t cnt = (int64_t)idx.count < limit ? (int64_t)idx.count : limit;
    if (rc == 0 && !(*dst = malloc((size_t)cnt * item + 1)))
        rc = cli_error("cannot allocate %lld images", (long long)cnt);
    for (int64_t i = 0; rc == 0 && i < cnt; i++) {
        if (S)
            memcpy((uint8_t *)*dst + i * px, idx.data + i * px, px);
        else
            ((int32_t *)*dst)[i] = idx.data[i];
    }
    *n = cnt;
    *total = (int64_t)idx.count;
    cli_mem_free(&mem);
    return rc;
}

/* A file read once (cli_read_file: a FIFO or a pipe works, and never blocks without a
 * writer); every format is told from these bytes, never by opening it again. An
 * empty one is refused here, naming a pipe as the likely cause. */
static int read_once(const char *path, unsigned char **buf, size_t *len)
{
    if (cli_read_file(path, buf, len))
        return 1;
    if (*len > 0)
        return 0;
    free(*buf);
    *buf = NULL;
    return cli_error("%s is empty%s", path,
                     cli_is_pipe(path) ? " (a FIFO or pipe nothing wrote to: start its writer "
                                         "first, or give a regular file)"
                                       : "");
}

/* Raw u8 images: N x C S S bytes, no header (buf is taken over). */
static int from_raw(const ev *e, const char *path, unsigned char *buf, size_t len, int64_t limit,
                    imageset *d)
{
    char shape[32];
    if (len % e->frame != 0) {
        free(buf);
        return cli_error("%s: %zu bytes is not a whole number of %s u8 images (%zu bytes "
                         "each), nor an IDX, weights or statistics file",
                         path, len, shape_text(e, shape, sizeof shape), e->frame);
    }
    d->total = (int64_t)(len / e->frame);
    d->n = d->total < limit ? d->total : limit;
    d->px = buf;
    return 0;
}

/* Every label of d (its first n) is one of the classifier's K classes. */
static int labels_in_range(const ev *e, const char *path, const imageset *d)
{
    for (int64_t i = 0; d->labels && i < d->n; i++)
        if (d->labels[i] >= e->K)
            return cli_error("%s: label %d of image %lld is not a class 0..%d of the classifier",
                             path, d->labels[i], (long long)i, e->K - 1);
    return 0;
}

/* Labels in 0..K-1 for d from an IDX1 or raw u8 file holding exactly as many as the
 * images d was read from (d->total; the first d->n are kept). They replace any d
 * had (a data set's own). */
static int load_labels(const ev *e, const char *path, imageset *d)
{
    int64_t n = 0, total = 0;
    unsigned char *buf;
    size_t len;
    int32_t *lab = NULL;
    if (read_once(path, &buf, &len))
        return 1;
    if (is_idx(buf, len)) {
        int rc = from_idx(path, buf, len, 0, d->n, (void **)&lab, &n, &total);
        free(buf);
        if (rc) {
            free(lab);
            return 1;
        }
    } else {
        total = (int64_t)len;
        n = total < d->n ? total : d->n;
        lab = malloc(sizeof(int32_t) * (size_t)(n + 1));
        for (int64_t i = 0; lab && i < n; i++)
            lab[i] = buf[i];
        free(buf);
        if (!lab)
            return cli_error("cannot allocate %lld labels", (long long)n);
    }
    free(d->labels);
    d->labels = lab;
    if (total != d->total)
        return cli_error("%s: %lld labels for %lld images: the counts must match", path,
                         (long long)total, (long long)d->total);
    return labels_in_range(e, path, d);
}

/* The first `limit` rows of an opened data set into d (its labels when it has two or
 * more classes: a set of one class is unlabelled images). */
static int copy_rows(const ev *e, cli_data *s, int64_t limit, imageset *d)
{
    enum { CHUNK = 256 };
    uint32_t idx[CHUNK];
    uint8_t lab[CHUNK];
    d->total = s->ds.n;
    d->n = s->ds.n < limit ? s->ds.n : limit;
    d->classes = s->num_classes >= 2 ? s->num_classes : 0;
    d->px = malloc((size_t)d->n * e->frame + 1);
    d->labels = d->classes ? malloc(sizeof(int32_t) * (size_t)(d->n + 1)) : NULL;
    if (!d->px || (d->classes && !d->labels))
        return cli_error("cannot allocate %lld images", (long long)d->n);
    for (int64_t at = 0; at < d->n; at += CHUNK) {
        const int m = (int)(d->n - at < CHUNK ? d->n - at : CHUNK);
        for (int i = 0; i < m; i++)
            idx[i] = (uint32_t)(at + i);
        if (cli_data_rows(s, idx, m, d->px + (size_t)at * e->frame, lab))
            return 1;
        for (int i = 0; d->labels && i < m; i++)
            d->labels[at + i] = lab[i];
    }
    return 0;
}

/* A data set (cli_data_open: a folder of IDX files, CIFAR-10 batches or images, or a
 * pack), split `split` (NULL: test when it has one, else train), fitted to the
 * classifier's shape. */
static int load_set(const ev *e, const char *path, const char *split, int64_t limit, imageset *d)
{
    cli_data s;
    const cli_data_want want = {.image = e->S, .channels = e->C};
    d->split = split ? split : cli_data_has_split(path, "test") ? "test" : "train";
    if (cli_data_open(path, NULL, NULL, d->split, &want, &s))
        return 1;
    int rc = copy_rows(e, &s, limit, d);
    cli_data_close(&s);
    return rc;
}

/* A data set, an IDX file or raw images. A FIFO or a pipe is read once; one holding a
 * weights or statistics file is refused (those are read from regular files only). */
static int load_images(const ev *e, const char *path, int64_t limit, imageset *d)
{
    struct stat st;
    char shape[32];
    if (stat(path, &st) != 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode) || (S_ISREG(st.st_mode) && cli_is_pack(path)))
        return load_set(e, path, NULL, limit, d);
    unsigned char *buf;
    size_t len;
    if (read_once(path, &buf, &len))
        return 1;
    const char *kind = NULL;
    if (len >= 8 && memcmp(buf, FM_WEIGHTS_MAGIC, 8) == 0)
        kind = "weights";
    else if (cli_is_stats_magic(buf, len))
        kind = "statistics";
    if (kind) {
        free(buf);
        if (cli_is_pipe(path))
            return cli_error("%s is a FIFO or pipe holding a %s file: give a regular file", path,
                             kind);
        return cli_error("%s is a %s file, not images", path, kind);
    }
    if (!is_idx(buf, len))
        return from_raw(e, path, buf, len, limit, d);
    if (e->C != 1) {
        free(buf);
        return cli_error("%s: IDX files hold grey images, the classifier %s takes %s: give the "
                         "images as a data set (fitted to its shape) or raw u8",
                         path, e->cls_path, shape_text(e, shape, sizeof shape));
    }
    int rc = from_idx(path, buf, len, e->S, limit, (void **)&d->px, &d->n, &d->total);
    free(buf);
    return rc;
}

/* ---- images sampled from a weights file ------------------------------------------------ */

static int is_weights(const char *path)
{
    return cli_file_has_magic(path, FM_WEIGHTS_MAGIC, 8);
}

/* The sampling run: progress is drawn from the step callback. */
typedef struct sampling {
    const eval_opts *o;
    int64_t done, n; /* images finished, asked for */
    int batch_n, tty;
    double t0;
} sampling;

static fm_status on_step(void *user, int step, const fm_tensor *x)
{
    (void)x;
    sampling *s = user;
    double frac =
               ((double)s->done + (double)s->batch_n * step / (double)s->o->steps) / (double)s->n,
           el = cli_now() - s->t0;
    char eta[32];
    cli_hms(frac > 0 ? el / frac - el : 0, eta, sizeof eta);
    if (s->tty) {
        char bar[21];
        for (int k = 0; k < 20; k++)
            bar[k] = k < (int)(20 * frac) ? '=' : k == (int)(20 * frac) ? '>' : ' ';
        bar[20] = 0;
        fprintf(stderr, "\rsampling %lld/%lld [%s] %.0f s ETA %s\x1b[K", (long long)s->done,
                (long long)s->n, bar, el, eta);
    } else if (step == (int)s->o->steps) {
        fprintf(stderr, "sampled %lld/%lld in %.1f s, ETA %s\n", (long long)(s->done + s->batch_n),
                (long long)s->n, el, eta);
    }
    return FM_OK;
}

/* Labels cycling through --classes / --class / 0..K-1 for a conditional model. */
static int sampling_labels(ev *e, int K)
{
    const eval_opts *o = &e->o;
    if (K == 0 && (o->classes || o->have_cls || o->have_cfg))
        return cli_error("%s is an unconditional model: --class/--classes/--cfg do not apply",
                         o->samples);
    e->nlist = 0;
    if (o->have_cls)
        e->list[e->nlist++] = (int)o->cls;
    else if (o->classes && (e->nlist = cli_parse_list("--classes", o->classes, 0, 1000, e->list,
                                                      CLI_MAX_LIST)) < 0)
        return 2;
    for (int k = 0; !o->have_cls && !o->classes && k < K && k < CLI_MAX_LIST; k++)
        e->list[e->nlist++] = k;
    for (int i = 0; i < e->nlist; i++)
        if (e->list[i] >= K)
            return cli_error("class %d out of range: the model has %d classes", e->list[i], K);
    return 0;
}

/* One batch (noise of stream b) into px; v: a latent model's autoencoder. */
static fm_status sample_batch(cli_sampler *sm, cli_vae *v, const batch_t *t,
                              const fm_sample_opts *so, uint64_t seed, uint32_t b, uint8_t *px)
{
    fm_status s = fm_noise(&sm->be, &t->x, seed, b);
    if (s == FM_OK)
        s = fm_sample(sm->m, &sm->m->flat, &t->x, t->y.ndim ? &t->y : NULL, so);
    if (s == FM_OK)
        s = cli_latent_pixels(&sm->be, v, &t->x, &t->img, &t->q);
    return s == FM_OK ? fm_download(&sm->be, px, &t->q) : s;
}

/* The batch tensors of B images: x of the model's config mc, the rest of the
 * classifier's image shape; img for a latent model, y for a conditional one. */
static fm_status batch_alloc(const ev *e, fm_backend *be, const fm_config *mc, int latent, int B,
                             batch_t *t)
{
    t->x = fm_tensor_4d(FM_F32, B, mc->in_channels, mc->image, mc->image);
    t->img = fm_tensor_4d(FM_F32, B, e->C, e->S, e->S);
    t->q = fm_tensor_4d(FM_U8, B, e->C, e->S, e->S);
    t->y = mc->text_depth > 0 ? fm_tensor_2d(FM_I32, B, mc->text_ctx) : fm_tensor_1d(FM_I32, B);
    fm_status s = fm_tensor_alloc(be, &t->x);
    if (s == FM_OK)
        s = fm_tensor_alloc(be, &t->q);
    if (s == FM_OK && latent)
        s = fm_tensor_alloc(be, &t->img);
    if (s == FM_OK && fm_config_conditional(mc))
        s = fm_tensor_alloc(be, &t->y);
    return s;
}

/* The first n images of each of t's tensors (a conditional model's y, cond; else
 * none). */
static batch_t batch_slice(const batch_t *t, int n, int cond)
{
    return (batch_t){.x = fm_tensor_slice(t->x, 0, n),
                     .img = t->img.ndim ? fm_tensor_slice(t->img, 0, n) : t->img,
                     .q = fm_tensor_slice(t->q, 0, n),
                     .y = cond ? fm_tensor_slice(t->y, 0, n) : (fm_tensor){0}};
}

/* The batches of the run on an opened sampler of the model config mc (v: a latent
 * model's autoencoder, attached to it; else NULL). */
static int sample_all(ev *e, cli_sampler *sm, cli_vae *v, const fm_config *mc, int B)
{
    const eval_opts *o = &e->o;
    const int K = mc->num_classes, text = mc->text_depth > 0, cond = K > 0 || text;
    imageset *d = &e->samples;
    sampling st = {.o = o, .n = d->n, .tty = isatty(2), .t0 = cli_now()};
    fm_sample_opts so = {.steps = (int)o->steps,
                         .heun = strcmp(o->sampler, "heun") == 0,
                         .guidance = cond,
                         .cfg_scale = (float)o->cfg,
                         .on_step = on_step,
                         .user = &st};
    batch_t t;
    /* A text model's rows of token ids: image i has prompt i / per. */
    int32_t *rows = text ? malloc(sizeof(int32_t) * (size_t)B * (size_t)e->L) : NULL;
    if (text && !rows)
        return cli_error("cannot allocate the prompts of a batch of %d", B);
    fm_status s = batch_alloc(e, &sm->be, mc, v != NULL, B, &t);
    for (uint32_t b = 0; s == FM_OK && st.done < d->n; b++, st.done += st.batch_n) {
        st.batch_n = (int)(d->n - st.done < B ? d->n - st.done : B);
        const batch_t tb = batch_slice(&t, st.batch_n, cond);
        for (int i = 0; K > 0 && i < st.batch_n; i++)
            d->labels[st.done + i] = e->list[(st.done + i) % e->nlist];
        for (int i = 0; text && i < st.batch_n; i++) {
            const int p = (int)((st.done + i) / e->per);
            d->labels[st.done + i] = p;
            memcpy(rows + (size_t)i * (size_t)e->L, e->ids + (size_t)p * (size_t)e->L,
                   sizeof(int32_t) * (size_t)e->L);
        }
        if (cond)
            s = fm_upload(&sm->be, &tb.y, text ? rows : d->labels + st.done);
        if (s == FM_OK)
            s = sample_batch(sm, v, &tb, &so, (uint64_t)o->seed, b,
                             d->px + (size_t)st.done * e->frame);
    }
    free(rows);
    if (st.tty)
        fputc('\n', stderr);
    if (s != FM_OK)
        return cli_error("sampling: %s", sm->be.err);
    e->sample_seconds = cli_now() - st.t0;
    fprintf(stderr, "sampled %lld images x %lld %s steps%s in %.1f s (backend %s%s%s)\n",
            (long long)d->n, o->steps, o->sampler, cond ? " with guidance" : "", e->sample_seconds,
            fm_backend_name(&sm->be), v ? "; latents decoded by " : "", v ? v->path : "");
    return 0;
}

/* ---- what the classifier knows ---------------------------------------------------- */

/* One line "key=value" of the text t[0..n) into buf (len bytes); 0 when absent. */
static int text_value(const char *t, size_t n, const char *key, char *buf, size_t len)
{
    const size_t kl = strlen(key);
    for (size_t at = 0; t && at < n;) {
        const char *nl = memchr(t + at, '\n', n - at);
        const size_t end = nl ? (size_t)(nl - t) : n;
        if (end - at > kl && memcmp(t + at, key, kl) == 0 && t[at + kl] == '=' &&
            end - at - kl - 1 < len) {
            snprintf(buf, len, "%.*s", (int)(end - at - kl - 1), t + at + kl + 1);
            return 1;
        }
        at = end + 1;
    }
    return 0;
}

/* The data a record names (text.data, or a statistics file's record): its "data="
 * path, else its "images=" file; 0 when it names none. */
static int record_path(const char *t, size_t n, char *buf, size_t len)
{
    return text_value(t, n, "data", buf, len) || text_value(t, n, "images", buf, len);
}

/* The folder that stands for a data set's path: the path resolved, and a file's
 * folder (an IDX file or a split's pack in it), so that data/mnist and
 * data/mnist/t10k-images-idx3-ubyte.gz are one set. */
static void set_of(const char *path, char *out, size_t len)
{
    struct stat st;
    char real[PATH_MAX];
    snprintf(out, len, "%s", realpath(path, real) ? real : path);
    if (stat(out, &st) == 0 && !S_ISDIR(st.st_mode)) {
        char *slash = strrchr(out, '/');
        if (slash && slash != out)
            *slash = 0;
    }
}

static int same_set(const char *a, const char *b)
{
    char sa[PATH_MAX + 1], sb[PATH_MAX + 1];
    set_of(a, sa, sizeof sa);
    set_of(b, sb, sizeof sb);
    return strcmp(sa, sb) == 0;
}

/* The class names t[0..n) ('\n'-separated) as "a,b,c" for a message, cut short. */
static const char *names_text(const char *t, size_t n, char *buf, size_t len)
{
    snprintf(buf, len, "%.*s", (int)n, t);
    for (char *c = buf; (c = strchr(c, '\n')) != NULL;)
        *c = ',';
    if (strlen(buf) > 60)
        snprintf(buf + 57, len - 57, "...");
    return buf;
}

/* One warning line when the model SAMPLES was trained on another data set than the
 * classifier (their text.data), else when it names its classes otherwise: the
 * numbers then measure it with another set's classifier. */
static void warn_model(const ev *e, const fm_weights *w)
{
    fm_ckpt_state st;
    char err[256], a[PATH_MAX], b[PATH_MAX], na[80], nb[80];
    if (fm_ckpt_state_read(w, &st, err, sizeof err) != FM_OK)
        return;
    if (record_path(st.data.s, st.data.n, a, sizeof a) &&
        record_path(e->cls_data, strlen(e->cls_data), b, sizeof b) && !same_set(a, b)) {
        cli_error("warning: %s was trained on %s, the classifier %s on %s: the numbers measure "
                  "another data set",
                  e->o.samples, a, e->cls_path, b);
        return;
    }
    if (!st.classes.n || (strlen(e->cls_names) == st.classes.n &&
                          memcmp(e->cls_names, st.classes.s, st.classes.n) == 0))
        return;
    if (e->cls_names[0])
        snprintf(b, sizeof b, "names them %s",
                 names_text(e->cls_names, strlen(e->cls_names), nb, sizeof nb));
    else
        snprintf(b, sizeof b, "names none (the shipped one's are the digits 0..9)");
    cli_error("warning: %s names its classes %s; the classifier %s %s: the numbers measure "
              "another data set",
              e->o.samples, names_text(st.classes.s, st.classes.n, na, sizeof na), e->cls_path, b);
}

/* One warning line when the reference (a statistics file's record, or the path of
 * the images) is another data set than the classifier's, else when it has another
 * number of classes. */
static void warn_ref(const ev *e)
{
    char a[PATH_MAX], b[PATH_MAX];
    const int rec = record_path(e->cls_data, strlen(e->cls_data), b, sizeof b);
    const int stats = e->have_ref_stats && !e->ref.px;
    int named = 0;
    if (stats)
        named = record_path(e->ref_stats.info, strlen(e->ref_stats.info), a, sizeof a);
    else if (e->ref.px && !cli_is_pipe(e->ref_path))
        named = snprintf(a, sizeof a, "%s", e->ref_path) > 0;
    if (rec && named && !same_set(a, b) && stats) {
        cli_error("warning: the reference %s holds features of %s, the classifier %s was "
                  "trained on %s: FID against another data set",
                  e->ref_path, a, e->cls_path, b);
        return;
    }
    if (rec && named && !same_set(a, b)) {
        cli_error("warning: the reference %s is not the data the classifier %s was trained on "
                  "(%s): FID against another data set",
                  e->ref_path, e->cls_path, b);
        return;
    }
    if (e->ref.classes && e->ref.classes != e->K)
        cli_error("warning: the reference %s has %d classes, the classifier %s tells %d apart: "
                  "another data set",
                  e->ref_path, e->ref.classes, e->cls_path, e->K);
}

/* Images of c's shape (in_channels x image x image) are the classifier's: `verb` says
 * what SAMPLES does with them ("makes", "reconstructs"). */
static int check_shape(const ev *e, const fm_config *c, const char *verb)
{
    if (c->in_channels != e->C || c->image != e->S)
        return cli_error("%s %s %dx%dx%d images; the classifier %s measures %dx%dx%d (train "
                         "one on the model's data: fmrt train-classifier, then --classifier FILE)",
                         e->o.samples, verb, c->in_channels, c->image, c->image, e->cls_path, e->C,
                         e->S, e->S);
    return 0;
}

/* A model the classifier can measure: its images (img: of a latent model, its
 * autoencoder's) of the classifier's shape, and a conditional one's classes the
 * classifier's (label accuracy compares them). */
static int check_model(const ev *e, const fm_weights *w, const fm_config *img)
{
    const fm_config *c = &w->cfg;
    if (check_shape(e, img, "makes"))
        return 1;
    if (c->num_classes > 0 && c->num_classes != e->K)
        return cli_error("%s is conditional on %d classes, the classifier %s tells %d apart: its "
                         "label accuracy would compare two sets' classes (train one on the "
                         "model's data: fmrt train-classifier, then --classifier FILE)",
                         e->o.samples, c->num_classes, e->cls_path, e->K);
    warn_model(e, w);
    return 0;
}

static int reconstruct(ev *e);

/* Sampler arena beyond the plan: the batch tensors (B images of `frame` bytes: x, q
 * and slack) and, for a latent model, the autoencoder's plan and its f32 images. */
static int extra_bytes(const ev *e, cli_vae *v, int B, size_t *extra)
{
    size_t vb = 0;
    *extra = (size_t)B * e->frame * 8 + (size_t)B * (size_t)e->L * sizeof(int32_t);
    if (v &&
        (cli_vae_arena_bytes(v, B, &vb) || !fm_mul_add_size((size_t)B * e->frame, 4, vb, &vb) ||
         !fm_add_size(*extra, vb, extra)))
        return cli_error("%s: the autoencoder's arena does not fit", v->path);
    return 0;
}

/* A flow model's file read and checked (*ae = 1 and nothing else done for an
 * autoencoder: reconstruct measures it). *v: a latent model's autoencoder (read, CRC
 * checked), else NULL. */
static int open_flow(ev *e, fm_weights *w, cli_mem *wmem, cli_vae *vae, cli_vae **v, int *ae)
{
    const eval_opts *o = &e->o;
    *v = NULL;
    if (cli_load_weights(o->samples, w, NULL, wmem))
        return 1;
    if ((*ae = fm_vae_is(&w->cfg)) != 0)
        return 0;
    if (o->data)
        return cli_usage_error(CMD,
                               "--data is for an autoencoder (the images it reconstructs); "
                               "%s is a flow model",
                               o->samples);
    int r = cli_check_weights(o->samples, w, FM_MODE_SAMPLE, o->raw)
                ? -1
                : cli_model_vae(o->samples, w, o->vae, vae);
    *v = r == 1 ? vae : NULL;
    return r < 0;
}

/* --n images from the weights file SAMPLES, in batches of --batch (a latent model's
 * decoded by its autoencoder). */
static int sample_images(ev *e)
{
    const eval_opts *o = &e->o;
    fm_weights w;
    cli_mem wmem = {0};
    cli_sampler sm = {0};
    cli_vae vae = {0}, *v;
    int ae = 0, rc = open_flow(e, &w, &wmem, &vae, &v, &ae);
    if (rc || ae) {
        cli_mem_free(&wmem);
        cli_vae_close(&vae);
        return rc ? rc : reconstruct(e);
    }
    const int K = w.cfg.num_classes, B = (int)(o->batch < o->n ? o->batch : o->n);
    const fm_config mc = w.cfg;
    size_t extra = 0;
    if (w.cfg.text_depth > 0)
        rc = cli_error("%s is a text model: give --prompts FILE (one prompt a line, as \"a red "
                       "7\") to measure how its samples follow them",
                       o->samples);
    if (rc == 0)
        rc = check_model(e, &w, v ? &v->w.cfg : &w.cfg);
    if (rc == 0)
        rc = sampling_labels(e, K);
    e->samples.n = o->n;
    e->samples.px = malloc((size_t)o->n * e->frame);
    e->samples.labels = K > 0 ? malloc(sizeof(int32_t) * (size_t)o->n) : NULL;
    if (rc == 0 && (!e->samples.px || (K > 0 && !e->samples.labels)))
        rc = cli_error("cannot allocate %lld images", o->n);
    if (rc == 0)
        rc = extra_bytes(e, v, B, &extra);
    if (rc == 0)
        rc = cli_open_sampler(o->samples, &wmem, &w, o->backend, B, o->raw, extra, &sm);
    if (rc == 0 && v)
        rc = cli_vae_attach(v, &sm.be, B);
    if (rc == 0)
        rc = sample_all(e, &sm, v, &mc, B);
    cli_vae_close(&vae);
    cli_close_sampler(&sm);
    cli_mem_free(&wmem);
    return rc;
}

/* ---- an autoencoder's reconstructions ---------------------------------------------- */

/* d's first n images and labels into a fresh copy (the reconstructions start as it). */
static int copy_set(const ev *e, const imageset *d, imageset *c)
{
    *c = (imageset){.n = d->n, .total = d->total, .split = d->split, .classes = d->classes};
    c->px = malloc((size_t)d->n * e->frame + 1);
    c->labels = d->labels ? malloc(sizeof(int32_t) * (size_t)(d->n + 1)) : NULL;
    if (!c->px || (d->labels && !c->labels))
        return cli_error("cannot allocate %lld images", (long long)d->n);
    memcpy(c->px, d->px, (size_t)d->n * e->frame);
    if (c->labels)
        memcpy(c->labels, d->labels, sizeof(int32_t) * (size_t)d->n);
    return 0;
}

/* PSNR in dB of n u8 images against their originals, pixels scaled to [0, 1]: one
 * MSE over every pixel of the set (inf when they are equal). */
static double psnr_u8(const uint8_t *a, const uint8_t *b, size_t count)
{
    double se = 0;
    for (size_t i = 0; i < count; i++) {
        const double d = ((double)a[i] - (double)b[i]) / 255.0;
        se += d * d;
    }
    return se > 0 ? 10.0 * log10((double)count / se) : INFINITY;
}

/* A backend for the autoencoder at batch B and the batch tensors (x the images and
 * img, f32; q, u8; the latents z), the model attached. */
static int recon_open(const ev *e, cli_vae *v, int B, fm_tensor *z, fm_backend *be, cli_mem *mem,
                      int *open)
{
    size_t bytes, extra;
    if (cli_vae_arena_bytes(v, B, &bytes) || !fm_mul_size((size_t)B * e->frame, 9, &extra) ||
        !fm_add_size(bytes, extra, &bytes) || !fm_add_size(bytes, fm_tensor_bytes(z), &bytes) ||
        !fm_add_size(bytes, 64 << 10, &bytes))
        return cli_error("%s: the autoencoder's arena does not fit", v->path);
    if (cli_open_backend(be, e->o.backend ? e->o.backend : "auto", bytes, mem))
        return 1;
    *open = 1;
    return cli_vae_attach(v, be, B);
}

/* Encode and decode e->samples (a copy of the originals) in place, batch after batch,
 * on a backend of its own (as a sampler's). */
static int recon_all(ev *e, cli_vae *v, int B, fm_backend *be, cli_mem *mem, int *open)
{
    imageset *d = &e->samples;
    int64_t zs[4];
    fm_vae_latent_shape(&v->w.cfg, B, zs);
    const fm_config mc = {.in_channels = e->C, .image = e->S};
    fm_tensor z = fm_tensor_desc(FM_F32, 4, zs);
    float *xf = malloc(sizeof(float) * (size_t)B * e->frame);
    batch_t t;
    if (!xf)
        return cli_error("cannot allocate a batch of %d images", B);
    int rc = recon_open(e, v, B, &z, be, mem, open);
    if (rc == 0 && (batch_alloc(e, be, &mc, 1, B, &t) != FM_OK || fm_tensor_alloc(be, &z) != FM_OK))
        rc = cli_error("reconstruction: %s", be->err);
    for (int64_t at = 0; rc == 0 && at < d->n; at += B) {
        const int n = (int)(d->n - at < B ? d->n - at : B);
        const batch_t tb = batch_slice(&t, n, 0);
        const fm_tensor zb = fm_tensor_slice(z, 0, n);
        uint8_t *px = d->px + (size_t)at * e->frame;
        cli_pixels(xf, px, (size_t)n * e->frame);
        if (fm_upload(be, &tb.x, xf) != FM_OK || cli_vae_encode(v, &tb.x, &zb) ||
            cli_latent_pixels(be, v, &zb, &tb.img, &tb.q) != FM_OK ||
            fm_download(be, px, &tb.q) != FM_OK)
            rc = cli_error("reconstruction: %s", be->err);
    }
    free(xf);
    return rc;
}

/* An autoencoder as SAMPLES: the first --n images of --data (its test split, else
 * train: as the reference is chosen) encoded to their latent means and decoded, as
 * a latent model's samples are; e->orig keeps the originals, e->psnr their PSNR. */
static int reconstruct(ev *e)
{
    const eval_opts *o = &e->o;
    cli_vae v = {0};
    fm_backend be;
    cli_mem mem = {0};
    int open = 0;
    if (!o->data)
        return cli_error("%s is an autoencoder: give --data DIR, the images it reconstructs",
                         o->samples);
    if (o->classes || o->have_cls || o->have_cfg || o->raw || o->vae)
        return cli_usage_error(CMD,
                               "--class/--classes/--cfg/--raw/--vae are for a flow model; "
                               "%s is an autoencoder",
                               o->samples);
    const int B = (int)(o->batch < o->n ? o->batch : o->n);
    double t0 = cli_now();
    int rc = cli_vae_read(o->samples, &v) || check_shape(e, &v.w.cfg, "reconstructs") ||
             load_set(e, o->data, NULL, o->n, &e->orig) || copy_set(e, &e->orig, &e->samples) ||
             recon_all(e, &v, B, &be, &mem, &open);
    if (rc == 0) {
        e->recon = 1;
        e->psnr = psnr_u8(e->orig.px, e->samples.px, (size_t)e->orig.n * e->frame);
        snprintf(e->what, sizeof e->what, "reconstructions of the first %lld %s images of %s by %s",
                 (long long)e->orig.n, e->orig.split, o->data, o->samples);
        fprintf(stderr, "reconstructed %lld images in %.1f s (backend %s, latent scale %.9g)\n",
                (long long)e->orig.n, cli_now() - t0, fm_backend_name(&be), (double)v.scale);
    }
    if (rc == 0 && o->have_n && o->n > e->orig.n)
        cli_error("note: --n %lld, but %s holds %lld %s images: reconstructing those", o->n,
                  o->data, (long long)e->orig.n, e->orig.split);
    cli_vae_close(&v);
    if (open)
        fm_backend_close(&be);
    cli_mem_free(&mem);
    return rc;
}

/* ---- the classifier ---------------------------------------------------------------- */

/* The classifier file's tensors checked now (names, shapes, dtype, finite values) by
 * loading it on a throwaway ref backend, so that a bad file is named for what is
 * wrong with it before anything is compared with it (the --ref statistics' CRC) or
 * sampled. No --backend or --precision flags: this is the file's check only. */
static int check_classifier(ev *e)
{
    size_t arena = fm_classifier_arena_bytes(&e->ccfg, 1, FM_MODE_SAMPLE), host = 0;
    if (fm_backend_host_bytes("ref", arena, 0, &host) != FM_OK)
        return cli_error("cannot size the classifier check's arena");
    host = (host + 63) & ~(size_t)63;
    void *mem = aligned_alloc(64, host);
    fm_model *c = malloc(sizeof *c); /* its layout table: too large for the stack */
    fm_backend be;
    fm_backend_config bc = {
        .name = "ref", .mem = mem, .mem_bytes = host, .arena_bytes = arena, .device_index = -1};
    int rc = !mem || !c ? cli_error("cannot allocate the classifier check") : 0;
    if (rc == 0 && fm_backend_open(&be, &bc) != FM_OK)
        rc = cli_error("classifier check: %s", be.err);
    else if (rc == 0) {
        if (fm_classifier_create(c, &be, &e->ccfg, 1, FM_MODE_SAMPLE) != FM_OK ||
            fm_classifier_load(c, &e->cw) != FM_OK)
            rc = cli_error("%s: %s", e->cls_path, be.err);
        fm_backend_close(&be);
    }
    free(c);
    free(mem);
    return rc;
}

/* The classifier's config, shape and record (its data, its class names: copied, the
 * file's image is freed once uploaded). */
static int classifier_shape(ev *e)
{
    char err[256];
    fm_text data, names;
    if (fm_classifier_file_config(&e->cw, &e->ccfg, err, sizeof err) != FM_OK ||
        fm_classifier_texts(&e->cw, &data, &names, err, sizeof err) != FM_OK)
        return cli_error("%s: %s", e->cls_path, err);
    e->C = e->ccfg.in_channels;
    e->S = e->ccfg.image;
    e->K = fm_classifier_classes(&e->ccfg);
    e->frame = (size_t)e->C * (size_t)e->S * (size_t)e->S;
    snprintf(e->cls_data, sizeof e->cls_data, "%.*s", (int)data.n, data.s ? data.s : "");
    snprintf(e->cls_names, sizeof e->cls_names, "%.*s", (int)names.n, names.s ? names.s : "");
    memcpy(e->name_buf, e->cls_names, sizeof e->name_buf);
    e->nnames = 0;
    for (char *c = e->name_buf; e->cls_names[0] && e->nnames < FM_CLS_MAX_CLASSES;) {
        e->name[e->nnames++] = c;
        if (!(c = strchr(c, '\n')))
            break;
        *c++ = 0;
    }
    return 0;
}

/* Read the classifier file (before any long work, so a bad one fails at once). */
static int read_classifier(ev *e)
{
    const char *p = e->o.classifier, *dflt = e->cls_default ? e->cls_default : DEFAULT_CLASSIFIER;
    if (!p && !(p = cli_shipped_path(dflt, e->cls_path, sizeof e->cls_path)))
        return cli_error("the shipped %s was not found (%s): give --classifier FILE", dflt,
                         e->cls_path);
    if (p != e->cls_path)
        snprintf(e->cls_path, sizeof e->cls_path, "%s", p);
    if (cli_load_weights(e->cls_path, &e->cw, NULL, &e->cmem))
        return 1;
    if (!fm_weights_is_classifier(&e->cw))
        return cli_error("%s is not a classifier file (fmrt train-classifier writes those)",
                         e->cls_path);
    return classifier_shape(e) || check_classifier(e);
}

/* A backend with the classifier on it and its batch tensors. */
static int open_classifier(ev *e)
{
    if (cli_open_backend(&e->be, e->o.backend ? e->o.backend : "auto",
                         fm_classifier_arena_bytes(&e->ccfg, CLS_BATCH, FM_MODE_SAMPLE), &e->bemem))
        return 1;
    e->be_open = 1;
    e->xb = malloc(sizeof(float) * CLS_BATCH * e->frame);
    e->lb = malloc(sizeof(float) * CLS_BATCH * (size_t)e->K);
    if (!e->xb || !e->lb)
        return cli_error("cannot allocate the classifier's batch buffers");
    e->x = fm_tensor_4d(FM_F32, CLS_BATCH, e->C, e->S, e->S);
    e->feat = fm_tensor_2d(FM_F32, CLS_BATCH, DIM);
    e->logits = fm_tensor_2d(FM_F32, CLS_BATCH, e->K);
    if (fm_classifier_create(&e->c, &e->be, &e->ccfg, CLS_BATCH, FM_MODE_SAMPLE) != FM_OK ||
        fm_classifier_load(&e->c, &e->cw) != FM_OK || fm_tensor_alloc(&e->be, &e->x) != FM_OK ||
        fm_tensor_alloc(&e->be, &e->feat) != FM_OK || fm_tensor_alloc(&e->be, &e->logits) != FM_OK)
        return cli_error("%s: %s", e->cls_path, e->be.err);
    cli_mem_free(&e->cmem);
    return 0;
}

/* Softmax of one row of K logits: the largest probability and its class. */
static int top_class(const float *l, int K, double *p)
{
    int k = 0;
    for (int j = 1; j < K; j++)
        if (l[j] > l[k])
            k = j;
    double z = 0;
    for (int j = 0; j < K; j++)
        z += exp((double)l[j] - l[k]);
    *p = 1.0 / z;
    return k;
}

/* Confidence, histogram and label hits of nb rows of K logits, images [s, s + nb). */
static void tally(metrics *m, const float *lg, int K, const int32_t *labels, int64_t s, int nb)
{
    for (int i = 0; i < nb; i++) {
        double p;
        int k = top_class(lg + (size_t)i * (size_t)K, K, &p);
        if (m->top)
            m->top[s + i] = (uint8_t)k;
        m->conf += p;
        m->hist[k]++;
        if (labels) {
            m->labelled++;
            m->correct += k == labels[i];
            if (labels[i] >= 0 && labels[i] < K) { /* a reference's own may be any */
                m->asked[labels[i]]++;
                m->right[labels[i]] += k == labels[i];
            }
        }
    }
}

/* Features (into feat[n, 128] when not NULL) and the metrics of d. */
static int classify(ev *e, const imageset *d, float *feat, metrics *m)
{
    float *xb = e->xb, *lb = e->lb;
    for (int64_t s = 0; s < d->n; s += CLS_BATCH) {
        int nb = (int)(d->n - s < CLS_BATCH ? d->n - s : CLS_BATCH);
        fm_tensor x = fm_tensor_slice(e->x, 0, nb), f = fm_tensor_slice(e->feat, 0, nb);
        fm_tensor lg = fm_tensor_slice(e->logits, 0, nb);
        cli_pixels(xb, d->px + (size_t)s * e->frame, (size_t)nb * e->frame);
        if (fm_upload(&e->be, &x, xb) != FM_OK ||
            fm_classifier_forward(&e->c, &x, &f, &lg) != FM_OK ||
            fm_download(&e->be, lb, &lg) != FM_OK ||
            (feat && fm_download(&e->be, feat + s * DIM, &f) != FM_OK))
            return cli_error("classifier: %s", e->be.err);
        tally(m, lb, e->K, d->labels ? d->labels + s : NULL, s, nb);
    }
    m->n = d->n;
    m->conf /= (double)d->n;
    m->kl = 0;
    for (int k = 0; k < e->K; k++)
        if (m->hist[k] > 0) {
            double h = (double)m->hist[k] / (double)d->n;
            m->kl += h * log(e->K * h);
        }
    return 0;
}

/* classify, and the feature statistics of d into m->stats (each image's class into
 * top[n] when not NULL). */
static int measure_top(ev *e, const imageset *d, metrics *m, uint8_t *top)
{
    *m = (metrics){.fid = NAN, .psnr = NAN, .top = top};
    float *feat = malloc(sizeof(float) * DIM * (size_t)d->n);
    if (!feat)
        return cli_error("cannot allocate the features of %lld images", (long long)d->n);
    int rc = classify(e, d, feat, m);
    if (rc == 0)
        rc = cli_stats_compute(&m->stats, feat, d->n, DIM, e->cw.crc);
    free(feat);
    return rc;
}

static int measure(ev *e, const imageset *d, metrics *m)
{
    return measure_top(e, d, m, NULL);
}

/* ---- the reference ------------------------------------------------------------------ */

/* A statistics file made with the classifier in use (its CRC), else one line naming
 * the one it was made with when it records it. */
static int same_classifier(const ev *e)
{
    char who[300] = "", name[256];
    if (e->ref_stats.cls_crc == e->cw.crc)
        return 0;
    if (cli_stats_info(&e->ref_stats, "classifier", name, sizeof name))
        snprintf(who, sizeof who, "%s, ", name);
    return cli_error("%s holds the features of another classifier (%sCRC 0x%08x; %s has "
                     "0x%08x): give --ref DATA, or make them again with fmrt eval DATA "
                     "--classifier %s --save-stats FILE",
                     e->ref_path, who, e->ref_stats.cls_crc, e->cls_path, e->cw.crc, e->cls_path);
}

/* The reference without --ref: the classifier's recorded data when it is still there,
 * else the shipped statistics (of the shipped classifier). NULL: none found. */
static const char *default_ref(ev *e)
{
    char rec[PATH_MAX];
    struct stat st;
    if (text_value(e->cls_data, strlen(e->cls_data), "data", rec, sizeof rec) &&
        stat(rec, &st) == 0) {
        snprintf(e->ref_path, sizeof e->ref_path, "%s", rec);
        return e->ref_path;
    }
    return cli_shipped_path(DEFAULT_REF, e->ref_path, sizeof e->ref_path);
}

/* --ref (or --data, the images an autoencoder reconstructs, or the default above): a
 * statistics file is read now; images are read now (a data set's test split, else its
 * training one) and measured once the classifier is open. No reference is an error
 * unless only --save-stats was asked for. */
static int read_ref(ev *e)
{
    const char *p = e->o.ref ? e->o.ref : e->o.data;
    if (!p && !(p = default_ref(e))) {
        if (e->o.save_stats) {
            e->ref_path[0] = 0;
            return 0;
        }
        return cli_error("the shipped %s was not found (%s): give --ref DATA", DEFAULT_REF,
                         e->ref_path);
    }
    if (p != e->ref_path)
        snprintf(e->ref_path, sizeof e->ref_path, "%s", p);
    if (cli_is_pipe(e->ref_path) || !cli_is_stats_file(e->ref_path)) {
        if (load_images(e, e->ref_path, INT64_MAX, &e->ref))
            return 1;
        warn_ref(e);
        return 0;
    }
    /* The dimension is checked before the values, so a file of another width is named
     * as such rather than by what its values look like at this one. */
    if (cli_stats_load_dim(&e->ref_stats, e->ref_path, DIM))
        return 1;
    e->have_ref_stats = 1;
    if (same_classifier(e))
        return 1;
    warn_ref(e);
    return 0;
}

/* The reference's statistics, from its images when it has no file of them. */
static int ref_stats(ev *e)
{
    if (e->have_ref_stats || !e->ref.px)
        return 0;
    metrics m;
    if (measure(e, &e->ref, &m))
        return 1;
    e->ref_stats = m.stats;
    e->have_ref_stats = 1;
    return 0;
}

/* ---- results ---------------------------------------------------------------------- */

static void print_line(const ev *e, const metrics *m, const cli_stats *ref, const char *what)
{
    char fid[32] = "-", acc[32] = "-";
    if (!isnan(m->fid))
        snprintf(fid, sizeof fid, "%.3f", m->fid);
    if (m->labelled)
        snprintf(acc, sizeof acc, "%.2f%%", 100.0 * (double)m->correct / (double)m->labelled);
    printf("fid %s  acc %s  conf %.4f  kl %.4f  n %lld  ref %lld", fid, acc, m->conf, m->kl,
           (long long)m->n, (long long)(ref ? ref->n : 0));
    if (!isnan(m->psnr))
        printf("  psnr %.2f dB", m->psnr);
    if (e->sample_seconds > 0)
        printf("  sampling %.1f s", e->sample_seconds);
    printf("  (%s)\n", what);
    /* A line per class, by the classifier's names (one that records none, as the
     * shipped one, prints none): how many images it put there, and of those asked for
     * (labelled) the share it saw as asked. */
    for (int k = 0; k < e->nnames; k++) {
        char esc[4 * FM_CLASS_NAME_MAX];
        printf("  class %-12s predicted %lld", cli_escape(e->name[k], esc, sizeof esc),
               (long long)m->hist[k]);
        if (m->asked[k])
            printf("  asked %lld  right %.1f%%", (long long)m->asked[k],
                   100.0 * (double)m->right[k] / (double)m->asked[k]);
        printf("\n");
    }
}

static cJSON *json_of(const ev *e, const metrics *m, const cli_stats *ref, const char *what)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "samples", what);
    cJSON_AddNumberToObject(j, "n", (double)m->n);
    if (!isnan(m->fid))
        cJSON_AddNumberToObject(j, "fid", m->fid);
    if (m->labelled)
        cJSON_AddNumberToObject(j, "label_accuracy", (double)m->correct / (double)m->labelled);
    cJSON_AddNumberToObject(j, "confidence", m->conf);
    cJSON_AddNumberToObject(j, "class_kl", m->kl);
    if (!isnan(m->psnr)) /* inf (identical images) prints as JSON null */
        cJSON_AddNumberToObject(j, "psnr_db", m->psnr);
    cJSON *h = cJSON_AddArrayToObject(j, "class_histogram");
    for (int k = 0; k < e->K; k++)
        cJSON_AddItemToArray(h, cJSON_CreateNumber((double)m->hist[k]));
    if (e->nnames) {
        cJSON *nm = cJSON_AddArrayToObject(j, "class_names");
        for (int k = 0; k < e->nnames; k++)
            cJSON_AddItemToArray(nm, cJSON_CreateString(e->name[k]));
    }
    if (ref) {
        cJSON_AddStringToObject(j, "ref", e->ref_path);
        cJSON_AddNumberToObject(j, "ref_n", (double)ref->n);
    }
    cJSON_AddStringToObject(j, "classifier", e->cls_path);
    if (e->sample_seconds > 0) {
        cJSON *s = cJSON_AddObjectToObject(j, "sampling");
        cJSON_AddStringToObject(s, "sampler", e->o.sampler);
        cJSON_AddNumberToObject(s, "steps", (double)e->o.steps);
        cJSON_AddNumberToObject(s, "seed", (double)e->o.seed);
        if (e->samples.labels)
            cJSON_AddNumberToObject(s, "cfg", e->o.cfg);
        cJSON_AddNumberToObject(s, "seconds", e->sample_seconds);
    }
    return j;
}

/* One result against ref (NULL: none, no FID): a line, or with --json one object
 * per line. */
static int report(const ev *e, metrics *m, const cli_stats *ref, const char *what)
{
    if (ref && cli_fid_available() && cli_fid(&m->stats, ref, &m->fid))
        return 1;
    /* A covariance of n <= D features is singular: FID then measures mostly its own
     * bias (tens to thousands on real digits). Said, not refused: a quick look at a
     * few samples is still a use. */
    if (ref && !isnan(m->fid) && (m->n <= DIM || ref->n <= DIM))
        cli_error("warning: FID of %lld images against %lld: its %dx%d covariances need more "
                  "than %d on each side (1000+ for a stable number); read it as a rough sign",
                  (long long)m->n, (long long)ref->n, DIM, DIM, DIM);
    if (!e->o.json) {
        print_line(e, m, ref, what);
        return 0;
    }
    cJSON *j = json_of(e, m, ref, what);
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!s)
        return cli_error("cannot build the JSON result");
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

/* ---- the scale's ends ------------------------------------------------------------- */

/* A Gaussian blur, sigma 1 (taps at -2..2), edges clamped, of each S x S plane of
 * the n images of C planes (separable: rows into tmp[S, S], then columns). */
static int blur(uint8_t *dst, const uint8_t *src, int64_t n, int C, int S)
{
    double g[5], z = 0, *tmp = malloc(sizeof(double) * (size_t)S * (size_t)S);
    if (!tmp)
        return cli_error("cannot allocate a %dx%d plane", S, S);
    for (int k = 0; k < 5; k++)
        z += g[k] = exp(-0.5 * (k - 2) * (k - 2));
    for (int64_t i = 0; i < n * C; i++, src += S * S, dst += S * S) {
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double a = 0;
                for (int k = 0; k < 5; k++) {
                    int xx = x + k - 2 < 0 ? 0 : x + k - 2 > S - 1 ? S - 1 : x + k - 2;
                    a += g[k] * src[y * S + xx];
                }
                tmp[y * S + x] = a / z;
            }
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                double a = 0;
                for (int k = 0; k < 5; k++) {
                    int yy = y + k - 2 < 0 ? 0 : y + k - 2 > S - 1 ? S - 1 : y + k - 2;
                    a += g[k] * tmp[yy * S + x];
                }
                dst[y * S + x] = (uint8_t)(a / z + 0.5);
            }
    }
    free(tmp);
    return 0;
}

/* Uniform u8 noise: pixel e of the n frames is the top byte of Philox(seed), element
 * e, stream 7. */
static void noise(uint8_t *dst, int64_t n, size_t frame, uint64_t seed)
{
    for (int64_t e = 0; e < n * (int64_t)frame; e++)
        dst[e] = (uint8_t)(fm_philox_element(seed, (uint64_t)e, 7).v[0] >> 24);
}

/* One row: d measured against ref. */
static int sanity_row(ev *e, const imageset *d, const cli_stats *ref, const char *what)
{
    metrics m;
    int rc = measure(e, d, &m) || report(e, &m, ref, what);
    cli_stats_free(&m.stats);
    return rc;
}

/* Images 0, 2, 4, ... (odd = 0) or 1, 3, 5, ... (odd = 1) of r into a copy. Not the
 * first and second halves: MNIST's test set has the easier writers (Census staff)
 * in its first 5000 digits and students in the rest, which FID sees (128.8 for
 * those halves, 11.0 for the interleaved ones). */
static int interleaved(const ev *e, const imageset *r, int odd, imageset *h)
{
    const size_t f = e->frame;
    h->n = (r->n + 1 - odd) / 2;
    h->px = malloc((size_t)h->n * f);
    h->labels = r->labels ? malloc(sizeof(int32_t) * (size_t)h->n) : NULL;
    if (!h->px || (r->labels && !h->labels))
        return cli_error("cannot allocate %lld images", (long long)h->n);
    for (int64_t i = 0; i < h->n; i++) {
        memcpy(h->px + (size_t)i * f, r->px + (size_t)(2 * i + odd) * f, f);
        if (h->labels)
            h->labels[i] = r->labels[2 * i + odd];
    }
    return 0;
}

/* The floor: the reference's even images against its odd ones. */
static int halves(ev *e)
{
    imageset a = {0}, b = {0};
    metrics mb = {0};
    char what[256];
    int rc =
        interleaved(e, &e->ref, 0, &a) || interleaved(e, &e->ref, 1, &b) || measure(e, &b, &mb);
    snprintf(what, sizeof what,
             "halves: the %lld even-numbered reference images against the "
             "%lld odd-numbered",
             (long long)a.n, (long long)b.n);
    if (rc == 0)
        rc = sanity_row(e, &a, &mb.stats, what);
    cli_stats_free(&mb.stats);
    images_free(&a);
    images_free(&b);
    return rc;
}

/* A floor at N: N real images the reference does not hold (the training split of a
 * --ref data set read at its test split), when there are some. */
static int unseen(ev *e, int64_t n)
{
    char what[256];
    imageset t = {0};
    if (!e->ref.split || strcmp(e->ref.split, "test") != 0 ||
        !cli_data_has_split(e->ref_path, "train"))
        return 0;
    int rc = load_set(e, e->ref_path, "train", n, &t);
    snprintf(what, sizeof what, "real: the first %lld training images", (long long)t.n);
    if (rc == 0)
        rc = sanity_row(e, &t, &e->ref_stats, what);
    images_free(&t);
    return rc;
}

/* The scale's ends: halves and unseen real images (floors), the first N reference
 * images blurred and N images of uniform noise (towards the ceiling). */
static int sanity(ev *e)
{
    const imageset *r = &e->ref;
    int64_t n = e->o.n < r->n ? e->o.n : r->n;
    char what[256];
    if (!r->px)
        return cli_error("--sanity measures images: %s is a statistics file", e->ref_path);
    if (r->n < 4)
        return cli_error("--sanity needs at least 4 reference images, %s has %lld", e->ref_path,
                         (long long)r->n);
    imageset t = {.n = n, .px = malloc((size_t)n * e->frame), .labels = r->labels};
    if (!t.px)
        return cli_error("cannot allocate %lld images", (long long)n);
    int rc = halves(e) || unseen(e, n) || blur(t.px, r->px, n, e->C, e->S);
    snprintf(what, sizeof what, "blurred: the first %lld images, Gaussian sigma 1 px",
             (long long)n);
    if (rc == 0)
        rc = sanity_row(e, &t, &e->ref_stats, what);
    noise(t.px, n, e->frame, (uint64_t)e->o.seed);
    t.labels = NULL;
    snprintf(what, sizeof what, "noise: %lld images of uniform u8 pixels", (long long)n);
    if (rc == 0)
        rc = sanity_row(e, &t, &e->ref_stats, what);
    free(t.px);
    return rc;
}

/* ---- prompt adherence (--prompts) ------------------------------------------------- */

#define MAX_PROMPTS 4096
#define MAX_PROMPT_BYTES 1000
#define STROKE_MIN 128 /* a stroke pixel: its largest channel at least this */

/* One prompt of the file and its tallies. */
typedef struct prompt {
    char *text;               /* the line, without its end (malloc'd) */
    int line;                 /* in the file, from 1 */
    int colour, digit;        /* what it names (cli_colours' index, 0..9); -1: nothing */
    int group;                /* 1 a held-out pair, 0 a seen one; -1 not a pair, or no record */
    int64_t n, den[4], ok[4]; /* images; scored and right: digit, colour, both, class */
} prompt;

typedef struct prompts {
    prompt *p;
    int np;
    int32_t *ids; /* [np, L] token ids */
    uint8_t held[CLI_NPAIRS];
    int have_held;         /* held[] known: --held-out or the model's record */
    const char *held_from; /* which */
    int cls80;             /* the classifier has colour MNIST's 80 classes (else 10 digits) */
} prompts;

static const char *const digit_words[10] = {"zero", "one", "two",   "three", "four",
                                            "five", "six", "seven", "eight", "nine"};
/* Colour words colour MNIST has no images of: a prompt naming one is refused. */
static const char *const other_colours[] = {
    "black", "grey",   "gray",   "purple", "pink",  "brown",     "violet", "indigo",
    "teal",  "navy",   "gold",   "silver", "lime",  "maroon",    "olive",  "turquoise",
    "beige", "golden", "crimson", "scarlet", "lavender", NULL};

/* What the prompt t names: at most one of the 8 colours and one digit 0..9 (a word
 * "7" or "seven", ASCII case ignored), at least one of them. 0, or 1 with the reason
 * in why. */
static int prompt_names(const char *t, int *colour, int *digit, char *why, size_t len)
{
    char names[128];
    *colour = *digit = -1;
    for (const char *c = t; *c;) {
        if (!isalnum((unsigned char)*c)) {
            c++;
            continue;
        }
        const char *w = c;
        while (isalnum((unsigned char)*c))
            c++;
        const size_t n = (size_t)(c - w);
        char word[16];
        if (n >= sizeof word)
            continue;
        int alldig = 1;
        for (size_t i = 0; i < n; i++) {
            word[i] = (char)tolower((unsigned char)w[i]);
            alldig &= isdigit((unsigned char)w[i]) != 0;
        }
        word[n] = 0;
        int k = cli_colour_find(word, n), d = alldig && n == 1 ? word[0] - '0' : -1;
        for (int j = 0; j < 10 && d < 0 && !alldig; j++)
            if (strcmp(word, digit_words[j]) == 0)
                d = j;
        for (int j = 0; other_colours[j] && k < 0 && d < 0; j++)
            if (strcmp(word, other_colours[j]) == 0) {
                snprintf(why, len, "names the colour '%s', which colour MNIST has no images of "
                                   "(its colours: %s)",
                         word, cli_colour_list(names, sizeof names));
                return 1;
            }
        if (alldig && n > 1) {
            snprintf(why, len, "names the number %s: a prompt names one digit 0..9", word);
            return 1;
        }
        if (k >= 0 && *colour >= 0 && k != *colour) {
            snprintf(why, len, "names two colours, %s and %s: one at most",
                     cli_colours[*colour].name, cli_colours[k].name);
            return 1;
        }
        if (d >= 0 && *digit >= 0 && d != *digit) {
            snprintf(why, len, "names two digits, %d and %d: one at most", *digit, d);
            return 1;
        }
        *colour = k >= 0 ? k : *colour;
        *digit = d >= 0 ? d : *digit;
    }
    if (*colour < 0 && *digit < 0) {
        snprintf(why, len, "names no digit 0..9 and none of the colours %s: nothing to score",
                 cli_colour_list(names, sizeof names));
        return 1;
    }
    return 0;
}

static void prompts_free(prompts *pr)
{
    for (int i = 0; i < pr->np; i++)
        free(pr->p[i].text);
    free(pr->p);
    free(pr->ids);
}

/* --prompts FILE: one prompt a line; blank lines and '#' comments skipped; ends and
 * a final '\r' trimmed. Each is checked by prompt_names (one line naming the file's
 * line when not). */
static int read_prompts(const ev *e, prompts *pr)
{
    const char *path = e->o.prompts;
    unsigned char *buf;
    size_t len;
    char why[300], esc[4 * 64];
    if (cli_read_file(path, &buf, &len))
        return 1;
    int rc = memchr(buf, 0, len)
                 ? cli_error("%s holds a NUL byte: not a text file of prompts", path)
                 : 0;
    pr->p = rc ? NULL : calloc(MAX_PROMPTS, sizeof *pr->p);
    if (rc == 0 && !pr->p)
        rc = cli_error("cannot allocate the prompts");
    int line = 0;
    for (size_t at = 0; rc == 0 && at < len;) {
        const unsigned char *nl = memchr(buf + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - buf) : len, a = at;
        at = end + 1;
        line++;
        while (a < end && isspace(buf[a]))
            a++;
        while (end > a && isspace(buf[end - 1]))
            end--;
        if (a == end || buf[a] == '#')
            continue;
        char raw[64];
        snprintf(raw, sizeof raw, "%.*s", (int)(end - a < 60 ? end - a : 60),
                 (const char *)buf + a);
        cli_escape(raw, esc, sizeof esc);
        if (end - a > MAX_PROMPT_BYTES) {
            rc = cli_error("%s:%d: a prompt of %zu bytes ('%s...'): at most %d", path, line,
                           end - a, esc, MAX_PROMPT_BYTES);
            break;
        }
        if (pr->np == MAX_PROMPTS) {
            rc = cli_error("%s: more than %d prompts", path, MAX_PROMPTS);
            break;
        }
        prompt *p = &pr->p[pr->np];
        p->line = line;
        p->group = -1;
        if (!(p->text = malloc(end - a + 1))) {
            rc = cli_error("cannot allocate the prompts");
            break;
        }
        memcpy(p->text, buf + a, end - a);
        p->text[end - a] = 0;
        pr->np++;
        if (prompt_names(p->text, &p->colour, &p->digit, why, sizeof why))
            rc = cli_error("%s:%d: '%s' %s", path, line, esc, why);
    }
    free(buf);
    if (rc == 0 && pr->np == 0)
        rc = cli_error("%s holds no prompts (only blank lines and '#' comments): give one a line, "
                       "as \"a red 7\"",
                       path);
    return rc;
}

/* The pairs the training left out: --held-out, else the model's record (text.data's
 * "held_out=red 7,green 2", which fmrt train writes from a pack's held-out.txt); each
 * prompt naming a colour and a digit is then seen or held out. */
static int held_pairs(const ev *e, const fm_weights *w, prompts *pr)
{
    fm_ckpt_state st;
    char err[256], rec[1024];
    if (e->o.held_out) {
        if (cli_colour_pairs("--held-out", e->o.held_out, pr->held))
            return 2;
        pr->have_held = 1;
        pr->held_from = "--held-out";
    } else if (fm_ckpt_state_read(w, &st, err, sizeof err) == FM_OK &&
               text_value(st.data.s, st.data.n, "held_out", rec, sizeof rec)) {
        if (rec[0] && cli_colour_pairs("the model's text.data held_out=", rec, pr->held))
            return 1;
        pr->have_held = 1;
        pr->held_from = "the model's record";
    }
    for (int i = 0; pr->have_held && i < pr->np; i++) {
        prompt *p = &pr->p[i];
        if (p->colour >= 0 && p->digit >= 0)
            p->group = pr->held[10 * p->colour + p->digit];
    }
    return 0;
}

/* The classifier tells the 10 digits apart (named 0..9, or unnamed) or colour MNIST's
 * 80 classes ("red 0" .. "white 9", label 10 colour + digit). */
static int prompt_classifier(const ev *e, prompts *pr)
{
    char want[32];
    int ok = e->K == 10 || e->K == CLI_NPAIRS;
    for (int k = 0; ok && e->nnames && k < e->K; k++) {
        if (e->K == 10)
            snprintf(want, sizeof want, "%d", k);
        else
            snprintf(want, sizeof want, "%s %d", cli_colours[k / 10].name, k % 10);
        ok = k < e->nnames && strcmp(e->name[k], want) == 0;
    }
    if (!ok || (e->K == CLI_NPAIRS && e->nnames != CLI_NPAIRS))
        return cli_error("the classifier %s tells %d classes apart%s: --prompts reads digits from "
                         "one of the 10 digits (the shipped " DEFAULT_CLASSIFIER ") or of colour "
                         "MNIST's 80 classes \"red 0\" .. \"white 9\" (" DEFAULT_COLOUR_CLASSIFIER
                         ")",
                         e->cls_path, e->K, e->nnames ? " by other names" : "");
    pr->cls80 = e->K == CLI_NPAIRS;
    return 0;
}

/* The prompts' rows of L token ids, by the model's tokenizer (docs/spec/text.md):
 * byte level, or CLIP's BPE from --vocab, else the vocabulary the model records. */
static int tokenize_prompts(ev *e, const fm_weights *w, prompts *pr)
{
    const fm_config *c = &w->cfg;
    const int L = c->text_ctx;
    fm_ckpt_state st;
    char err[256], rec[4096];
    const char *vocab = e->o.vocab;
    if (!vocab && c->text_tokenizer == FM_TOK_CLIP_BPE &&
        fm_ckpt_state_read(w, &st, err, sizeof err) == FM_OK &&
        cli_text_value(&st.data, "vocab", rec, sizeof rec))
        vocab = rec;
    char **texts = malloc(sizeof(char *) * (size_t)pr->np);
    cli_tok tok;
    int cut = 0, first = -1;
    if (!texts || !(pr->ids = malloc(sizeof(int32_t) * (size_t)pr->np * (size_t)L))) {
        free(texts);
        return cli_error("cannot allocate the prompts' token ids");
    }
    for (int i = 0; i < pr->np; i++)
        texts[i] = pr->p[i].text;
    int rc = cli_tok_open(&tok, c, vocab);
    if (rc == 0) {
        rc = cli_tok_rows(&tok, c, texts, pr->np, pr->ids, &cut, &first);
        cli_tok_close(&tok);
    }
    free(texts);
    if (rc == 0 && cut)
        cli_error("warning: %d prompt%s longer than the model's context of %d tokens: cut to its "
                  "first %d and the end token (the first: %s:%d)",
                  cut, cut == 1 ? " is" : "s are", L, L - 2, e->o.prompts, pr->p[first].line);
    e->L = L;
    e->ids = pr->ids;
    e->per = (int)e->o.per_prompt;
    return rc;
}

/* The colour of an image (C planes of S x S; grey counts as white): the mean RGB of
 * its stroke pixels (the largest channel >= STROKE_MIN), nearest of the 8 colours up
 * to brightness (the colour whose ray s rgb, s >= 0, passes closest to the mean);
 * -1 when it has no stroke pixel. */
static int stroke_colour(const ev *e, const uint8_t *img)
{
    const size_t plane = (size_t)e->S * (size_t)e->S;
    double m[3] = {0, 0, 0};
    int64_t cnt = 0;
    for (size_t p = 0; p < plane; p++) {
        int v[3], mx = 0;
        for (int c = 0; c < 3; c++) {
            v[c] = img[(size_t)(e->C == 3 ? c : 0) * plane + p];
            mx = v[c] > mx ? v[c] : mx;
        }
        if (mx < STROKE_MIN)
            continue;
        for (int c = 0; c < 3; c++)
            m[c] += v[c];
        cnt++;
    }
    if (!cnt)
        return -1;
    int best = -1;
    double bd = INFINITY, mm = m[0] * m[0] + m[1] * m[1] + m[2] * m[2];
    for (int k = 0; k < CLI_NCOLOURS; k++) {
        const uint8_t *r = cli_colours[k].rgb;
        const double mp = m[0] * r[0] + m[1] * r[1] + m[2] * r[2],
                     pp = (double)r[0] * r[0] + (double)r[1] * r[1] + (double)r[2] * r[2];
        const double d = mm - (mp > 0 ? mp * mp / pp : 0);
        if (d < bd)
            bd = d, best = k;
    }
    return best;
}

/* Every sample through the classifier (its digit; with 80 classes the digit of the
 * largest probability summed over the 8 colours, and the class itself) and the colour
 * rule, tallied on its prompt. */
static int score_prompts(ev *e, prompts *pr)
{
    const imageset *d = &e->samples;
    for (int64_t s = 0; s < d->n; s += CLS_BATCH) {
        const int nb = (int)(d->n - s < CLS_BATCH ? d->n - s : CLS_BATCH);
        fm_tensor x = fm_tensor_slice(e->x, 0, nb), f = fm_tensor_slice(e->feat, 0, nb);
        fm_tensor lg = fm_tensor_slice(e->logits, 0, nb);
        cli_pixels(e->xb, d->px + (size_t)s * e->frame, (size_t)nb * e->frame);
        if (fm_upload(&e->be, &x, e->xb) != FM_OK ||
            fm_classifier_forward(&e->c, &x, &f, &lg) != FM_OK ||
            fm_download(&e->be, e->lb, &lg) != FM_OK)
            return cli_error("classifier: %s", e->be.err);
        for (int i = 0; i < nb; i++) {
            const float *l = e->lb + (size_t)i * (size_t)e->K;
            int cls = 0, dig = 0;
            for (int j = 1; j < e->K; j++)
                cls = l[j] > l[cls] ? j : cls;
            if (pr->cls80) {
                double pd[10] = {0};
                for (int j = 0; j < e->K; j++)
                    pd[j % 10] += exp((double)l[j] - l[cls]);
                for (int j = 1; j < 10; j++)
                    dig = pd[j] > pd[dig] ? j : dig;
            } else
                dig = cls;
            prompt *p = &pr->p[d->labels[s + i]];
            const int col = stroke_colour(e, d->px + (size_t)(s + i) * e->frame);
            const int dok = dig == p->digit, cok = col == p->colour;
            const int both = p->digit >= 0 && p->colour >= 0;
            p->n++;
            p->den[0] += p->digit >= 0, p->ok[0] += p->digit >= 0 && dok;
            p->den[1] += p->colour >= 0, p->ok[1] += p->colour >= 0 && cok;
            p->den[2] += both, p->ok[2] += both && dok && cok;
            p->den[3] += both && pr->cls80;
            p->ok[3] += both && pr->cls80 && cls == 10 * p->colour + p->digit;
        }
    }
    return 0;
}

/* One row of the table (and of the CSV when csv is not NULL). */
static void table_row(FILE *csv, const char *group, const char *colour, const char *digit,
                      const int64_t n, const int64_t *den, const int64_t *ok, const char *what)
{
    char pct[4][16], esc[4 * MAX_PROMPT_BYTES + 1];
    for (int k = 0; k < 4; k++)
        if (den[k])
            snprintf(pct[k], sizeof pct[k], "%.1f", 100.0 * (double)ok[k] / (double)den[k]);
        else
            snprintf(pct[k], sizeof pct[k], "-");
    printf("%-9s %-8s %5s %7lld %7s %7s %7s %7s  %s\n", group, colour, digit, (long long)n, pct[0],
           pct[1], pct[2], pct[3], cli_escape(what, esc, sizeof esc));
    if (!csv)
        return;
    fprintf(csv, "%s,%s,%s,%lld", group, colour, digit, (long long)n);
    for (int k = 0; k < 4; k++)
        if (den[k])
            fprintf(csv, ",%.4f", (double)ok[k] / (double)den[k]);
        else
            fprintf(csv, ",");
    fputs(",\"", csv);
    for (const char *c = what; *c; c++)
        fputs(*c == '"' ? "\"\"" : (char[2]){*c, 0}, csv);
    fputs("\"\n", csv);
}

/* The table: a row per prompt, then all, seen and held-out (with a record of the
 * held-out pairs). */
static int prompt_table(const ev *e, const prompts *pr)
{
    const eval_opts *o = &e->o;
    char held[CLI_NPAIRS * 12], dg[8], sum_what[3][24] = {"(all prompts)", "(seen pairs)",
                                                          "(held-out pairs)"};
    FILE *csv = NULL;
    if (o->csv && !(csv = fopen(o->csv, "w")))
        return cli_error("cannot write %s: %s", o->csv, strerror(errno));
    printf("# %s: %d prompts x %d images, %s %lld steps, cfg %g, seed %lld, sampled in %.1f s\n",
           o->samples, pr->np, e->per, o->sampler, o->steps, o->cfg, o->seed, e->sample_seconds);
    printf("# digit: the classifier %s%s; colour: the stroke pixels' (max channel >= %d) mean "
           "RGB, nearest of the 8 up to brightness; both: digit and colour right%s\n",
           e->cls_path, pr->cls80 ? " (the digit of its 80 classes, probabilities summed over "
                                    "colours)"
                                  : "",
           STROKE_MIN, pr->cls80 ? "; class: its 80-class prediction is the prompt's pair" : "");
    if (pr->have_held)
        printf("# held out (%s): %s\n", pr->held_from,
               cli_colour_pairs_text(pr->held, ", ", held, sizeof held)[0] ? held : "none");
    else
        printf("# held out: not known (no --held-out, no record in the model)\n");
    printf("%-9s %-8s %5s %7s %7s %7s %7s %7s  %s\n", "group", "colour", "digit", "n", "digit%",
           "colour%", "both%", "class%", "prompt");
    if (csv)
        fputs("group,colour,digit,n,digit_acc,colour_acc,both_acc,class_acc,prompt\n", csv);
    int64_t n[3] = {0}, den[3][4] = {{0}}, ok[3][4] = {{0}};
    static const char *const gname[3] = {"-", "seen", "held-out"};
    for (int i = 0; i < pr->np; i++) {
        const prompt *p = &pr->p[i];
        snprintf(dg, sizeof dg, "%d", p->digit);
        table_row(csv, gname[p->group + 1], p->colour >= 0 ? cli_colours[p->colour].name : "-",
                  p->digit >= 0 ? dg : "-", p->n, p->den, p->ok, p->text);
        for (int g = 0; g < 3; g++) {
            if (g > 0 && p->group != g - 1)
                continue;
            n[g] += p->n;
            for (int k = 0; k < 4; k++)
                den[g][k] += p->den[k], ok[g][k] += p->ok[k];
        }
    }
    static const char *const sname[3] = {"all", "seen", "held-out"};
    for (int g = 0; g < (pr->have_held ? 3 : 1); g++)
        table_row(csv, sname[g], "-", "-", n[g], den[g], ok[g], sum_what[g]);
    if (csv) {
        /* fclose even when an earlier write failed, so the file is never left open */
        int bad = fflush(csv) != 0 || ferror(csv) != 0;
        bad |= fclose(csv) != 0;
        if (bad)
            return cli_error("writing %s failed", o->csv);
    }
    if (o->csv)
        fprintf(stderr, "wrote %s\n", o->csv);
    return 0;
}

/* --prompts: the prompts read, the text model checked and sampled K times each, the
 * classifier opened (by default the colour MNIST one for an RGB model) and the table
 * printed. */
static int prompts_run(ev *e)
{
    const eval_opts *o = &e->o;
    prompts pr = {0};
    fm_weights w;
    cli_mem wmem = {0};
    cli_sampler sm = {0};
    cli_vae vae = {0}, *v = NULL;
    fm_config mc = {0};
    size_t extra = 0;
    int ae = 0, B = 0;
    int rc = read_prompts(e, &pr) || open_flow(e, &w, &wmem, &vae, &v, &ae);
    if (rc == 0 && ae)
        rc = cli_error("%s is an autoencoder: --prompts measures a text model's samples",
                       o->samples);
    if (rc == 0 && w.cfg.text_depth == 0)
        rc = w.cfg.num_classes
                 ? cli_error("%s is conditional on %d classes, not a text model: --prompts is for "
                             "a model trained on captions (fmrt train --captions); measure this "
                             "one without it",
                             o->samples, w.cfg.num_classes)
                 : cli_error("%s is unconditional, not a text model: --prompts is for a model "
                             "trained on captions (fmrt train --captions)",
                             o->samples);
    if (rc == 0) {
        mc = w.cfg;
        e->cls_default =
            (v ? v->w.cfg.in_channels : mc.in_channels) == 3 ? DEFAULT_COLOUR_CLASSIFIER : NULL;
        rc = held_pairs(e, &w, &pr) || read_classifier(e) || prompt_classifier(e, &pr) ||
             check_model(e, &w, v ? &v->w.cfg : &w.cfg) || tokenize_prompts(e, &w, &pr);
    }
    const int64_t total = (int64_t)pr.np * o->per_prompt;
    if (rc == 0 && total > (1ll << 30))
        rc = cli_error("%d prompts x %lld images is over 2^30 images", pr.np, o->per_prompt);
    if (rc == 0) {
        B = (int)(o->batch < total ? o->batch : total);
        e->samples.n = total;
        e->samples.px = malloc((size_t)total * e->frame);
        e->samples.labels = malloc(sizeof(int32_t) * (size_t)total);
        if (!e->samples.px || !e->samples.labels)
            rc = cli_error("cannot allocate %lld images", (long long)total);
    }
    if (rc == 0)
        rc = extra_bytes(e, v, B, &extra) ||
             cli_open_sampler(o->samples, &wmem, &w, o->backend, B, o->raw, extra, &sm) ||
             (v && cli_vae_attach(v, &sm.be, B)) || sample_all(e, &sm, v, &mc, B);
    cli_vae_close(&vae);
    cli_close_sampler(&sm);
    cli_mem_free(&wmem);
    if (rc == 0 && o->samples_out &&
        (rc = cli_write_file(o->samples_out, e->samples.px, (size_t)total * e->frame)) == 0)
        fprintf(stderr, "wrote %s (%lld x %d x %d x %d u8, prompt after prompt)\n",
                o->samples_out, (long long)total, e->C, e->S, e->S);
    if (rc == 0)
        rc = open_classifier(e) || score_prompts(e, &pr) || prompt_table(e, &pr);
    prompts_free(&pr);
    return rc;
}

/* ---- the command ------------------------------------------------------------------ */

/* SAMPLES: sampled from a weights file (then written to --samples-out when asked),
 * or read with their --labels. */
static int load_samples(ev *e)
{
    const eval_opts *o = &e->o;
    if (o->sanity)
        return 0;
    /* A FIFO or a pipe is not opened to sniff it: it is read once, as images. */
    if (cli_is_pipe(o->samples) || !is_weights(o->samples)) {
        if (o->classes || o->have_cls || o->have_cfg || o->samples_out || o->raw || o->vae ||
            o->data)
            return cli_usage_error(CMD,
                                   "--class/--classes/--cfg/--raw/--samples-out/--vae/--data "
                                   "are for a weights file; %s holds images",
                                   o->samples);
        if (load_images(e, o->samples, o->have_n ? o->n : INT64_MAX, &e->samples) ||
            labels_in_range(e, o->samples, &e->samples) ||
            (o->labels && load_labels(e, o->labels, &e->samples)))
            return 1;
        if (o->have_n && o->n > e->samples.n)
            cli_error("note: --n %lld, but %s holds %lld images: measuring those %lld", o->n,
                      o->samples, (long long)e->samples.n, (long long)e->samples.n);
        return 0;
    }
    if (o->labels)
        return cli_usage_error(CMD, "--labels is for image files: a model's labels are the "
                                    "classes asked for (--classes)");
    if (sample_images(e))
        return 1;
    if (!o->samples_out)
        return 0;
    size_t len = (size_t)e->samples.n * e->frame;
    if (cli_write_file(o->samples_out, e->samples.px, len))
        return 1;
    fprintf(stderr, "wrote %s (%zu bytes: %lld x %d x %d x %d u8)\n", o->samples_out, len,
            (long long)e->samples.n, e->C, e->S, e->S);
    return 0;
}

/* What a statistics file of SAMPLES records (fid.h): the classifier's file name (its
 * CRC is in the header) and where the images came from, "model=", "data=" (with the
 * split read) or "images=" and the absolute path; control characters of a path
 * become '?'. */
static void stats_record(const ev *e, cli_stats *st)
{
    char abs[PATH_MAX];
    const char *cls = strrchr(e->cls_path, '/');
    const char *kind = e->recon                ? "autoencoder"
                       : e->sample_seconds > 0 ? "model"
                       : e->samples.split      ? "data"
                                               : "images";
    const char *path = realpath(e->o.samples, abs) ? abs : e->o.samples;
    int k = snprintf(st->info, sizeof st->info, "classifier=%s\n%s=%s", cls ? cls + 1 : e->cls_path,
                     kind, path);
    if (k > 0 && (size_t)k < sizeof st->info && e->samples.split)
        snprintf(st->info + k, sizeof st->info - (size_t)k, "\nsplit=%s", e->samples.split);
    for (char *c = st->info; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\n') || *c == 0x7f)
            *c = '?';
}

static int evaluate(ev *e)
{
    metrics m;
    uint8_t *top = e->o.classes_out ? malloc((size_t)e->samples.n + 1) : NULL;
    if (e->o.classes_out && !top)
        return cli_error("cannot allocate the classes of %lld images", (long long)e->samples.n);
    int rc = measure_top(e, &e->samples, &m, top);
    if (rc == 0 && top && (rc = cli_write_file(e->o.classes_out, top, (size_t)e->samples.n)) == 0)
        fprintf(stderr, "wrote %s (%lld classes, u8)\n", e->o.classes_out,
                (long long)e->samples.n);
    free(top);
    if (rc == 0 && e->recon)
        m.psnr = e->psnr;
    if (rc == 0)
        rc = report(e, &m, e->have_ref_stats ? &e->ref_stats : NULL,
                    e->recon ? e->what : e->o.samples);
    if (rc == 0 && e->o.save_stats) {
        stats_record(e, &m.stats);
        if ((rc = cli_stats_save(&m.stats, e->o.save_stats)) == 0)
            fprintf(stderr, "wrote %s (features of %lld images)\n", e->o.save_stats,
                    (long long)m.n);
    }
    cli_stats_free(&m.stats);
    return rc;
}

/* An autoencoder's rows: its reconstructions (with their PSNR) as evaluate measures
 * any SAMPLES, then the floors to read them against: the originals they were made
 * from and, when the set has a training split, as many unseen real images. */
static int evaluate_recon(ev *e)
{
    char what[512];
    snprintf(what, sizeof what, "originals: the %lld %s images reconstructed", (long long)e->orig.n,
             e->orig.split);
    int rc = evaluate(e);
    if (rc == 0)
        rc = sanity_row(e, &e->orig, e->have_ref_stats ? &e->ref_stats : NULL, what);
    return rc == 0 && e->have_ref_stats ? unseen(e, e->orig.n) : rc;
}

/* SAMPLES, --ref and --classifier by the rule of every command (cli_find_input): a
 * bare name missing here may be a shipped file (fmrt eval tiny-cond.fmw). */
static int find_inputs(ev *e)
{
    eval_opts *o = &e->o;
    return (o->samples &&
            cli_find_input(o->samples, e->samples_path, sizeof e->samples_path, &o->samples)) ||
           (o->ref && cli_find_input(o->ref, e->ref_path, sizeof e->ref_path, &o->ref)) ||
           (o->classifier &&
            cli_find_input(o->classifier, e->cls_path, sizeof e->cls_path, &o->classifier));
}

static int check_files(const eval_opts *o)
{
    cli_files outs = {0}, ins = {0};
    cli_files_add(&outs, "--save-stats", o->save_stats);
    cli_files_add(&outs, "--samples-out", o->samples_out);
    cli_files_add(&outs, "--classes-out", o->classes_out);
    cli_files_add(&outs, "--csv", o->csv);
    cli_files_add_data(&ins, "SAMPLES", o->samples);
    cli_files_add_data(&ins, "--ref", o->ref);
    cli_files_add_data(&ins, "--data", o->data);
    cli_files_add(&ins, "--vae", o->vae);
    cli_files_add(&ins, "--labels", o->labels);
    cli_files_add(&ins, "--classifier", o->classifier);
    cli_files_add(&ins, "--prompts", o->prompts);
    cli_files_add(&ins, "--vocab", o->vocab);
    return cli_check_outputs(&outs, &ins);
}

int cmd_eval(int argc, char **argv)
{
    ev e = {0};
    int rc = parse_eval_args(argc, argv, &e.o);
    if (rc == CLI_HELP) {
        usage();
        return 0;
    }
    if (rc)
        return rc;
    signal(SIGXFSZ, SIG_IGN);
    /* The cheap inputs first: a bad classifier or reference fails before sampling. */
    if (e.o.prompts)
        rc = find_inputs(&e) || check_files(&e.o) || prompts_run(&e);
    else
        rc = find_inputs(&e) || check_files(&e.o) || read_classifier(&e) || read_ref(&e) ||
             load_samples(&e) || open_classifier(&e) || ref_stats(&e) ||
             (e.o.sanity ? sanity(&e)
              : e.recon  ? evaluate_recon(&e)
                         : evaluate(&e));
    if (e.be_open)
        fm_backend_close(&e.be);
    cli_mem_free(&e.bemem);
    cli_mem_free(&e.cmem);
    images_free(&e.samples);
    images_free(&e.ref);
    images_free(&e.orig);
    cli_stats_free(&e.ref_stats);
    free(e.xb);
    free(e.lb);
    return rc;
}
