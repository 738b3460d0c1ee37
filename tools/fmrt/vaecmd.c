/* fmrt encode and fmrt decode (docs/spec/vae.md): a data set's scaled latents k mu as
 * a .npy file, and such a file decoded into a PNG grid; and what sample, eval and info
 * share about a latent flow model's autoencoder (cli_vaecmd.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "cli_backend.h"
#include "cli_data.h"
#include "cli_info.h"
#include "cli_preview.h"
#include "cli_vaecmd.h"
#include "commands.h"
#include "size.h"

#define NPY_ALIGN 64        /* numpy pads its header so that the data starts 64-aligned */
#define NPY_HEADER_MAX 4096 /* a header longer than this is not one numpy writes for 4-D */
#define DECODE_MAX 64       /* fmrt decode's grid: the first up to 64 latents by default */

/* ---- the autoencoder of a flow model ------------------------------------------------- */

const char *cli_vae_recorded(const fm_ckpt_state *st, char *buf, size_t len)
{
    char path[4096], esc[4 * 4096];
    snprintf(path, sizeof path, "%.*s",
             (int)(st->vae.n < sizeof path ? st->vae.n : sizeof path - 1),
             st->vae.s ? st->vae.s : "");
    /* The path comes from the file: escaped, as info prints every text. */
    snprintf(buf, len, "%s (CRC %08x)", path[0] ? cli_escape(path, esc, sizeof esc) : "(no path)",
             (unsigned)st->vae_crc);
    return buf;
}

static int exists(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0;
}

/* The file to read for a recorded path rec: rec where it is there (the commands' lookup
 * rule, cli_weights_path), else the file of its base name in the model's folder (a
 * model and its autoencoder copied elsewhere together); "" when neither is. */
static void locate(const char *model, const char *rec, char *out, size_t len)
{
    char buf[CLI_WEIGHTS_PATH];
    const char *p = cli_weights_path(rec, buf, sizeof buf);
    out[0] = 0;
    if (exists(p)) {
        snprintf(out, len, "%s", p);
        return;
    }
    const char *base = strrchr(rec, '/'), *dir = strrchr(model, '/');
    base = base ? base + 1 : rec;
    char beside[4096];
    int k =
        snprintf(beside, sizeof beside, "%.*s%s", dir ? (int)(dir - model + 1) : 0, model, base);
    if (*base && k > 0 && (size_t)k < sizeof beside && exists(beside))
        snprintf(out, len, "%s", beside);
}

int cli_model_vae(const char *path, const fm_weights *w, const char *flag, cli_vae *v)
{
    fm_ckpt_state st;
    char err[512], rec[4096], found[4096], what[4200];
    if (fm_ckpt_state_read(w, &st, err, sizeof err) != FM_OK)
        return -cli_error("%s: %s", path, err);
    if (!st.vae_crc && flag)
        return -cli_error("--vae %s: %s is a pixel model (it records no autoencoder)", flag, path);
    if (!st.vae_crc)
        return 0;
    snprintf(rec, sizeof rec, "%.*s", (int)(st.vae.n < sizeof rec ? st.vae.n : sizeof rec - 1),
             st.vae.s ? st.vae.s : "");
    if (!flag && rec[0]) {
        locate(path, rec, found, sizeof found);
        if (!found[0])
            return -cli_error("%s is a latent model: its autoencoder %s is missing; give "
                              "--vae FILE",
                              path, cli_vae_recorded(&st, what, sizeof what));
        flag = found;
    }
    return cli_vae_for_model(path, &st, flag, v) ? -1 : 1;
}

fm_status cli_latent_pixels(fm_backend *be, cli_vae *v, const fm_tensor *x, const fm_tensor *img,
                            const fm_tensor *q)
{
    fm_status s = FM_OK;
    if (v)
        s = fm_vae_decode(v->m, &v->m->flat, x, v->scale, img);
    fm_call qc = {.op = FM_OP_QUANTIZE_U8, .t = {*q, v ? *img : *x}};
    return s == FM_OK ? fm_run(be, &qc) : s;
}

/* ---- the .npy file -------------------------------------------------------------------- */

/* The whole file: magic, version 1.0, the header's length (u16 LE), the header (a
 * Python dict literal padded with spaces to the alignment, ending in '\n'), the data. */
static unsigned char *npy_build(const float *data, const int64_t shape[4], size_t *len)
{
    char dict[256];
    int k = snprintf(dict, sizeof dict,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld, %lld, "
                     "%lld), }",
                     (long long)shape[0], (long long)shape[1], (long long)shape[2],
                     (long long)shape[3]);
    size_t hl = (size_t)k + 1, pre = 10, data_bytes = 4;
    hl += (NPY_ALIGN - (pre + hl) % NPY_ALIGN) % NPY_ALIGN;
    for (int d = 0; d < 4; d++)
        if (!fm_mul_size(data_bytes, (size_t)shape[d], &data_bytes))
            return NULL;
    if (!fm_add_size(pre + hl, data_bytes, len))
        return NULL;
    unsigned char *b = malloc(*len);
    if (!b)
        return NULL;
    memcpy(b, CLI_NPY_MAGIC, 6);
    b[6] = 1, b[7] = 0, b[8] = (unsigned char)(hl & 0xff), b[9] = (unsigned char)(hl >> 8);
    memset(b + pre, ' ', hl);
    memcpy(b + pre, dict, (size_t)k);
    b[pre + hl - 1] = '\n';
    memcpy(b + pre + hl, data, data_bytes);
    return b;
}

/* The value after 'key': in a header h (NUL-terminated), spaces skipped; NULL when
 * the key is absent. */
static const char *npy_value(const char *h, const char *key)
{
    char q[40];
    snprintf(q, sizeof q, "'%s':", key);
    const char *p = strstr(h, q);
    if (!p)
        return NULL;
    for (p += strlen(q); *p == ' '; p++)
        ;
    return p;
}

/* "(a, b, c, d)" (a trailing comma allowed) into shape[4]; 0, or 1 when not 4 counts. */
static int npy_shape(const char *p, int64_t shape[4])
{
    int nd = 0;
    if (!p || *p++ != '(')
        return 1;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == ')')
            return nd != 4;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || v > (1ll << 40) || nd == 4)
            return 1;
        shape[nd++] = v;
        for (p = end; *p == ' '; p++)
            ;
        if (*p == ',')
            p++;
        else if (*p != ')')
            return 1;
    }
}

/* A .npy file's bytes b[0..len): little-endian float32, C order, 4-D. *data points into
 * b (at whatever alignment the header leaves: read it with memcpy); one error line
 * naming path and what is wrong. */
static int npy_parse(const char *path, const unsigned char *b, size_t len, int64_t shape[4],
                     const unsigned char **data)
{
    if (len < 10 || memcmp(b, CLI_NPY_MAGIC, 6) != 0)
        return cli_error("%s is not a .npy file (fmrt encode writes them)", path);
    if (b[6] < 1 || b[6] > 3)
        return cli_error("%s: .npy format version %d.%d, not 1, 2 or 3", path, b[6], b[7]);
    /* Version 1's header length is a u16, 2 and 3 have a u32 (LE). */
    const size_t pre = b[6] == 1 ? 10 : 12;
    size_t hl = 0;
    for (size_t k = 0; k < pre - 8 && 8 + k < len; k++)
        hl |= (size_t)b[8 + k] << (8 * k);
    if (len < pre || hl == 0 || hl > NPY_HEADER_MAX || hl > len - pre)
        return cli_error("%s: a .npy header of %zu bytes does not fit a file of %zu", path, hl,
                         len);
    char h[NPY_HEADER_MAX + 1];
    memcpy(h, b + pre, hl);
    h[hl] = 0;
    const char *descr = npy_value(h, "descr"), *order = npy_value(h, "fortran_order");
    if (!descr || strncmp(descr, "'<f4'", 5) != 0) /* the value shown up to its quote */
        return cli_error("%s: .npy dtype %.*s, not little-endian float32 ('<f4')", path,
                         descr ? (int)strcspn(descr + 1, "',}") + 2 : 6, descr ? descr : "(none)");
    if (!order || strncmp(order, "False", 5) != 0)
        return cli_error("%s: a Fortran-order .npy array; fmrt reads C order", path);
    if (npy_shape(npy_value(h, "shape"), shape))
        return cli_error("%s: .npy shape is not 4-D (N, Z, s, s) latents", path);
    size_t need = 4;
    for (int d = 0; d < 4; d++)
        if (!fm_mul_size(need, (size_t)shape[d], &need))
            return cli_error("%s: .npy shape too large", path);
    if (need != len - pre - hl)
        return cli_error("%s: .npy data of %zu bytes, its shape needs %zu", path, len - pre - hl,
                         need);
    *data = b + pre + hl;
    return 0;
}

/* ---- options ------------------------------------------------------------------------- */

/* One flag with a value (--split, --backend, --n, ...) into str or num. */
static int take_value(const char *cmd, const char *a, const char *v, const char **str,
                      long long *num, long long hi)
{
    if (!v)
        return cli_usage_error(cmd, "%s needs a value", a);
    if (str) {
        *str = v;
        return 0;
    }
    return cli_int(a, v, 1, hi, num) ? 2 : 0;
}

int parse_encode_args(int argc, char **argv, cli_encode_opts *o)
{
    *o = (cli_encode_opts){.split = "train", .batch = 100};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL, **str = NULL;
        long long *num = NULL, hi = 1ll << 31;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (strncmp(a, "--", 2) != 0) {
            const char **pos = !o->vae ? &o->vae : !o->out ? &o->out : NULL;
            if (!pos)
                return cli_usage_error("encode", "unexpected argument '%s'", a);
            *pos = a;
            continue;
        }
        /* clang-format off */
        if (strcmp(a, "--data") == 0) str = &o->data;
        else if (strcmp(a, "--split") == 0) str = &o->split;
        else if (strcmp(a, "--backend") == 0) str = &o->backend;
        else if (strcmp(a, "--n") == 0) num = &o->n;
        else if (strcmp(a, "--batch") == 0) num = &o->batch, hi = 1024;
        else return cli_usage_error("encode", "unknown option '%s'", a);
        /* clang-format on */
        int rc = take_value("encode", a, v, str, num, hi);
        if (rc)
            return rc;
        i++;
    }
    if (!o->vae || !o->out)
        return cli_usage_error("encode", "give the autoencoder and the output: fmrt encode "
                                         "VAE.fmw --data DIR OUT.npy");
    if (!o->data)
        return cli_usage_error("encode", "--data DIR missing (the images to encode)");
    if (strcmp(o->split, "train") != 0 && strcmp(o->split, "test") != 0)
        return cli_usage_error("encode", "--split must be train or test, not '%s'", o->split);
    return cli_check_ext("OUT", o->out, ".npy", "encode writes a NumPy .npy file");
}

int parse_decode_args(int argc, char **argv, cli_decode_opts *o)
{
    *o = (cli_decode_opts){.n = DECODE_MAX, .cols = 8};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long *num = NULL, hi = 4096;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        if (strncmp(a, "--", 2) != 0) {
            const char **pos = !o->vae       ? &o->vae
                               : !o->latents ? &o->latents
                               : !o->out     ? &o->out
                                             : NULL;
            if (!pos)
                return cli_usage_error("decode", "unexpected argument '%s'", a);
            *pos = a;
            continue;
        }
        if (strcmp(a, "--backend") == 0) {
            if (take_value("decode", a, v, &o->backend, NULL, 0))
                return 2;
            i++;
            continue;
        }
        if (strcmp(a, "--n") == 0)
            num = &o->n, hi = 1024;
        else if (strcmp(a, "--cols") == 0)
            num = &o->cols;
        else
            return cli_usage_error("decode", "unknown option '%s'", a);
        if (take_value("decode", a, v, NULL, num, hi))
            return 2;
        i++;
    }
    if (!o->vae || !o->latents || !o->out)
        return cli_usage_error("decode", "give the autoencoder, the latents and the grid: fmrt "
                                         "decode VAE.fmw LATENTS.npy OUT.png");
    return cli_check_ext("OUT", o->out, ".png", "decode writes a PNG grid");
}

/* ---- the autoencoder on a backend of its own ------------------------------------------- */

/* A backend sized for the autoencoder at batch n plus `extra` bytes of the caller's
 * tensors, the model attached. */
static int open_vae(cli_vae *v, const char *backend, int n, size_t extra, fm_backend *be,
                    cli_mem *mem, int *open)
{
    size_t bytes;
    if (cli_vae_arena_bytes(v, n, &bytes))
        return 1;
    if (!fm_add_size(bytes, extra, &bytes) || !fm_add_size(bytes, 64 << 10, &bytes))
        return cli_error("the autoencoder's arena is too large");
    if (cli_open_backend(be, backend ? backend : "auto", bytes, mem))
        return 1;
    *open = 1;
    return cli_vae_attach(v, be, n);
}

/* ---- fmrt encode ---------------------------------------------------------------------- */

static void encode_usage(void)
{
    printf("usage: fmrt encode VAE.fmw --data DIR OUT.npy [options]\n\n"
           "Encodes a data set with an autoencoder (fmrt train-vae) into its scaled latents\n"
           "k mu(x) (docs/spec/vae.md, \"Latent scale\"; k is the file's latent_scale, 1 for\n"
           "a checkpoint that records none). OUT is a NumPy .npy file (format 1.0):\n"
           "little-endian float32 '<f4', C order, shape (N, Z, s, s), row i the latent of\n"
           "image i of the split in the data set's order (numpy.load reads it; fmrt decode\n"
           "turns it back into images).\n\n"
           "  --data PATH     a data set as fmrt train takes it (IDX, CIFAR-10, images, a\n"
           "                  pack), fitted to the autoencoder's image size and channels\n"
           "  --split S       train (default) or test\n"
           "  --n N           the first N images only (default all)\n"
           "  --batch B       images per encoder batch (default 100)\n"
           "  --backend NAME  ref, cpu, opencl, cuda or auto (default auto)\n");
}

typedef struct enc_job {
    cli_encode_opts o;
    char vae_path[CLI_WEIGHTS_PATH];
    cli_vae v;
    cli_data d;
    int d_open, be_open;
    fm_backend be;
    cli_mem bemem;
    int64_t n, shape[4]; /* images encoded; the latent file's shape */
    size_t frame, lat;   /* floats of one image, of one latent */
    uint8_t *px;
    float *xf, *z; /* [B] images as floats, [n] latents */
} enc_job;

/* The autoencoder, the outputs checked, the data opened at the autoencoder's shape. */
static int encode_inputs(enc_job *j)
{
    cli_files outs = {0}, ins = {0};
    fm_ckpt_state st;
    char err[256];
    if (cli_find_input(j->o.vae, j->vae_path, sizeof j->vae_path, &j->o.vae))
        return 1;
    cli_files_add(&outs, "OUT", j->o.out);
    cli_files_add(&ins, "VAE", j->o.vae);
    cli_files_add_data(&ins, "--data", j->o.data);
    if (cli_check_outputs(&outs, &ins) || cli_vae_read(j->o.vae, &j->v))
        return 1;
    if (fm_ckpt_state_read(&j->v.w, &st, err, sizeof err) == FM_OK && !(st.latent_scale > 0))
        cli_error("note: %s records no latent scale (a checkpoint?): writing the raw means "
                  "(k = 1)",
                  j->o.vae);
    const fm_config *c = &j->v.w.cfg;
    const cli_data_want want = {.image = c->image, .channels = c->in_channels};
    if (cli_data_open(j->o.data, NULL, NULL, j->o.split, &want, &j->d))
        return 1;
    j->d_open = 1;
    j->n = j->o.n && j->o.n < j->d.ds.n ? j->o.n : j->d.ds.n;
    if (j->n < 1)
        return cli_error("%s: no images in its %s split", j->o.data, j->o.split);
    fm_vae_latent_shape(c, j->n, j->shape);
    j->frame = (size_t)c->in_channels * (size_t)c->image * (size_t)c->image;
    j->lat = (size_t)(j->shape[1] * j->shape[2] * j->shape[3]);
    return 0;
}

/* Batch after batch: rows, pixels to [-1, 1], k mu on the backend, into z. */
static int encode_all(enc_job *j)
{
    const int B = (int)(j->o.batch < j->n ? j->o.batch : j->n);
    size_t zb;
    if (!fm_mul_size((size_t)j->n, j->lat * sizeof(float), &zb))
        return cli_error("%lld latents do not fit in this address space", (long long)j->n);
    j->px = malloc((size_t)B * j->frame);
    j->xf = malloc((size_t)B * j->frame * sizeof(float));
    j->z = malloc(zb);
    if (!j->px || !j->xf || !j->z)
        return cli_error("cannot allocate %lld latents", (long long)j->n);
    fm_tensor x =
        fm_tensor_4d(FM_F32, B, j->v.w.cfg.in_channels, j->v.w.cfg.image, j->v.w.cfg.image);
    fm_tensor z = fm_tensor_4d(FM_F32, B, j->shape[1], j->shape[2], j->shape[3]);
    if (open_vae(&j->v, j->o.backend, B, fm_tensor_bytes(&x) + fm_tensor_bytes(&z) + 256, &j->be,
                 &j->bemem, &j->be_open))
        return 1;
    if (fm_tensor_alloc(&j->be, &x) != FM_OK || fm_tensor_alloc(&j->be, &z) != FM_OK)
        return cli_error("encode: %s", j->be.err);
    uint32_t idx[1024], next[1024];
    for (int64_t at = 0; at < j->n; at += B) {
        const int m = (int)(j->n - at < B ? j->n - at : B);
        const int mn = (int)(j->n - at - m < B ? j->n - at - m : B);
        fm_tensor xs = fm_tensor_slice(x, 0, m), zs = fm_tensor_slice(z, 0, m);
        for (int i = 0; i < m; i++)
            idx[i] = (uint32_t)(at + i);
        if (cli_data_rows(&j->d, idx, m, j->px, NULL))
            return 1;
        /* A pack's reader fetches the next rows while this batch is encoded. */
        for (int i = 0; i < mn; i++)
            next[i] = (uint32_t)(at + m + i);
        if (mn > 0)
            cli_data_prefetch(&j->d, next, mn);
        cli_pixels(j->xf, j->px, (size_t)m * j->frame);
        if (fm_upload(&j->be, &xs, j->xf) != FM_OK)
            return cli_error("encode: %s", j->be.err);
        if (cli_vae_encode(&j->v, &xs, &zs))
            return 1;
        if (fm_download(&j->be, j->z + (size_t)at * j->lat, &zs) != FM_OK)
            return cli_error("encode: %s", j->be.err);
    }
    return 0;
}

static int encode_write(enc_job *j)
{
    size_t len;
    unsigned char *b = npy_build(j->z, j->shape, &len);
    if (!b)
        return cli_error("cannot build the .npy file of %lld latents", (long long)j->n);
    int rc = cli_write_file(j->o.out, b, len);
    free(b);
    if (rc == 0)
        fprintf(stderr,
                "wrote %s (%lld latents [%lld, %lld, %lld, %lld] float32 of %s's %s "
                "split, scale %.9g)\n",
                j->o.out, (long long)j->n, (long long)j->shape[0], (long long)j->shape[1],
                (long long)j->shape[2], (long long)j->shape[3], j->o.data, j->o.split,
                (double)j->v.scale);
    return rc;
}

int cmd_encode(int argc, char **argv)
{
    enc_job j = {0};
    int rc = parse_encode_args(argc, argv, &j.o);
    if (rc == CLI_HELP) {
        encode_usage();
        return 0;
    }
    if (rc)
        return rc;
    signal(SIGXFSZ, SIG_IGN);
    double t0 = cli_now();
    rc = encode_inputs(&j) || encode_all(&j);
    if (rc == 0)
        fprintf(stderr, "encoded %lld images in %.1f s (backend %s)\n", (long long)j.n,
                cli_now() - t0, fm_backend_name(&j.be));
    if (rc == 0)
        rc = encode_write(&j);
    if (j.d_open)
        cli_data_close(&j.d);
    cli_vae_close(&j.v);
    if (j.be_open)
        fm_backend_close(&j.be);
    cli_mem_free(&j.bemem);
    free(j.px);
    free(j.xf);
    free(j.z);
    return rc;
}

/* ---- fmrt decode ---------------------------------------------------------------------- */

static void decode_usage(void)
{
    printf("usage: fmrt decode VAE.fmw LATENTS.npy OUT.png [options]\n\n"
           "Decodes latents with an autoencoder into a PNG grid: image i = dec(z_i / k).\n"
           "LATENTS is a .npy file as fmrt encode writes it (little-endian float32, C\n"
           "order, shape (N, Z, s, s) of the autoencoder's latent shape, scaled by its k).\n\n"
           "  --n N           decode the first N latents (default %d, at most 1024)\n"
           "  --cols N        grid columns (default 8)\n"
           "  --backend NAME  ref, cpu, opencl, cuda or auto (default auto)\n",
           DECODE_MAX);
}

typedef struct dec_job {
    cli_decode_opts o;
    char vae_path[CLI_WEIGHTS_PATH];
    cli_vae v;
    unsigned char *file;
    int be_open;
    fm_backend be;
    cli_mem bemem;
    uint8_t *px;
} dec_job;

/* The latents' shape against the autoencoder's, and the first n values finite. */
static int check_latents(const dec_job *j, const int64_t shape[4], const unsigned char *z,
                         int64_t n)
{
    int64_t want[4];
    fm_vae_latent_shape(&j->v.w.cfg, shape[0], want);
    if (shape[1] != want[1] || shape[2] != want[2] || shape[3] != want[3])
        return cli_error("%s holds latents [%lld, %lld, %lld, %lld]; %s decodes [N, %lld, %lld, "
                         "%lld]",
                         j->o.latents, (long long)shape[0], (long long)shape[1],
                         (long long)shape[2], (long long)shape[3], j->o.vae, (long long)want[1],
                         (long long)want[2], (long long)want[3]);
    if (n < 1)
        return cli_error("%s holds no latents (shape [0, ...])", j->o.latents);
    const size_t count = (size_t)n * (size_t)(want[1] * want[2] * want[3]);
    for (size_t i = 0; i < count; i++) {
        float f;
        memcpy(&f, z + i * sizeof f, sizeof f);
        if (!isfinite(f))
            return cli_error("%s: value %zu (latent %zu) is not finite", j->o.latents, i,
                             i / (size_t)(want[1] * want[2] * want[3]));
    }
    return 0;
}

/* n latents through the decoder, quantised, into j->px. */
static int decode_n(dec_job *j, const unsigned char *zh, int n)
{
    const fm_config *c = &j->v.w.cfg;
    int64_t shape[4];
    fm_vae_latent_shape(c, n, shape);
    fm_tensor z = fm_tensor_desc(FM_F32, 4, shape);
    fm_tensor img = fm_tensor_4d(FM_F32, n, c->in_channels, c->image, c->image);
    fm_tensor q = fm_tensor_4d(FM_U8, n, c->in_channels, c->image, c->image);
    float *tmp = malloc(fm_tensor_bytes(&z));
    j->px = malloc(fm_tensor_bytes(&q));
    if (!tmp || !j->px) {
        free(tmp);
        return cli_error("cannot allocate %d images", n);
    }
    memcpy(tmp, zh, fm_tensor_bytes(&z)); /* aligned for the upload */
    int rc = open_vae(&j->v, j->o.backend, n,
                      fm_tensor_bytes(&z) + fm_tensor_bytes(&img) + fm_tensor_bytes(&q) + 256,
                      &j->be, &j->bemem, &j->be_open);
    if (rc == 0 &&
        (fm_tensor_alloc(&j->be, &z) != FM_OK || fm_tensor_alloc(&j->be, &img) != FM_OK ||
         fm_tensor_alloc(&j->be, &q) != FM_OK || fm_upload(&j->be, &z, tmp) != FM_OK ||
         cli_latent_pixels(&j->be, &j->v, &z, &img, &q) != FM_OK ||
         fm_download(&j->be, j->px, &q) != FM_OK))
        rc = cli_error("decode: %s", j->be.err);
    free(tmp);
    return rc;
}

static int decode_run(dec_job *j)
{
    cli_files outs = {0}, ins = {0};
    size_t len;
    int64_t shape[4];
    const unsigned char *z = NULL;
    if (cli_find_input(j->o.vae, j->vae_path, sizeof j->vae_path, &j->o.vae))
        return 1;
    cli_files_add(&outs, "OUT", j->o.out);
    cli_files_add(&ins, "VAE", j->o.vae);
    cli_files_add(&ins, "LATENTS", j->o.latents);
    if (cli_check_outputs(&outs, &ins) || cli_vae_read(j->o.vae, &j->v) ||
        cli_read_file(j->o.latents, &j->file, &len) ||
        npy_parse(j->o.latents, j->file, len, shape, &z))
        return 1;
    const int n = (int)(shape[0] < j->o.n ? shape[0] : j->o.n);
    if (check_latents(j, shape, z, n) || decode_n(j, z, n))
        return 1;
    const fm_config *c = &j->v.w.cfg;
    const int C = c->in_channels, S = c->image;
    /* Tiles as fmrt sample draws them: RGB for 3 channels, else the channels stacked. */
    if (cli_write_grid(j->o.out, j->px, n, C == 3 ? 3 : 1, C == 3 ? S : C * S, S, (int)j->o.cols,
                       NULL))
        return 1;
    fprintf(stderr, "wrote %s (%d of %lld latents decoded, backend %s)\n", j->o.out, n,
            (long long)shape[0], fm_backend_name(&j->be));
    return 0;
}

int cmd_decode(int argc, char **argv)
{
    dec_job j = {0};
    int rc = parse_decode_args(argc, argv, &j.o);
    if (rc == CLI_HELP) {
        decode_usage();
        return 0;
    }
    if (rc)
        return rc;
    signal(SIGXFSZ, SIG_IGN);
    rc = decode_run(&j);
    cli_vae_close(&j.v);
    if (j.be_open)
        fm_backend_close(&j.be);
    cli_mem_free(&j.bemem);
    free(j.file);
    free(j.px);
    return rc;
}
