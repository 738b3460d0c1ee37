/* fmrt convert IN OUT: safetensors (the PyTorch / Hugging Face format) <-> fmrt
 * weights (.fmw). The direction follows IN's contents: a weights or checkpoint file
 * (magic FMRTWGT1) becomes safetensors, anything else is read as safetensors and
 * becomes a weights file. Everything is checked before OUT is written, through the
 * crash-safe writer, after the output checks every command runs.
 *
 *   safetensors -> .fmw: a state dict of the contract's network under fmrt's
 *     canonical names; the config from --preset / --config / --classes (as fmrt
 *     train), else from the "fmrt.config" metadata; every tensor against that
 *     config's layout (the first mismatch named); F16 and BF16 widened exactly.
 *   Hugging Face CLIP -> .fmw: a transformers.CLIPTextModel state dict (or a CLIPModel's,
 *     whose text_model.* part is taken and vision tower ignored) becomes a standalone
 *     text encoder (arch clip, docs/spec/text.md, "From Hugging Face"): vocab, ctx,
 *     width, depth and ff from the shapes, heads from --heads (default width / 64),
 *     the tokenizer from --tokenizer (default clip).
 *   .fmw -> safetensors: the canonical (EMA) tensors, or the raw ones with --raw,
 *     as F32 or F16 (--dtype f16), the config in the metadata. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_backend.h"
#include "cli_config.h"
#include "cli_mem.h"
#include "commands.h"
#include "fid.h"
#include "io.h"
#include "safetensors.h"

#define CMD "convert"
/* The config's text_tokenizer (docs/spec/text.md): byte-level, CLIP BPE. */
enum { TOK_BYTES = 1, TOK_CLIP = 2 };

typedef struct convert_opts {
    const char *in, *out;
    cli_config_opts cfg;
    int raw, f16, have_dtype;
    int heads;     /* --heads (a CLIP IN): 0 = width / 64 */
    int tokenizer; /* --tokenizer (a CLIP IN): TOK_*, 0 = clip */
} convert_opts;

static int parse_convert_args(int argc, char **argv, convert_opts *o)
{
    memset(o, 0, sizeof *o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CLI_HELP;
        int r = cli_config_option(CMD, &o->cfg, argc, argv, &i);
        if (r == 0)
            continue;
        if (r > 0)
            return r;
        if (strcmp(a, "--raw") == 0) {
            o->raw = 1;
        } else if (strcmp(a, "--heads") == 0) {
            long long v;
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--heads needs a value");
            if (cli_int("--heads", argv[++i], 1, 64, &v))
                return 2;
            o->heads = (int)v;
        } else if (strcmp(a, "--tokenizer") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--tokenizer needs a value");
            const char *v = argv[++i];
            if (strcmp(v, "clip") == 0)
                o->tokenizer = TOK_CLIP;
            else if (strcmp(v, "bytes") == 0)
                o->tokenizer = TOK_BYTES;
            else
                return cli_usage_error(CMD, "--tokenizer: '%s' is not clip or bytes", v);
        } else if (strcmp(a, "--dtype") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(CMD, "--dtype needs a value");
            const char *v = argv[++i];
            if (strcmp(v, "f32") != 0 && strcmp(v, "f16") != 0)
                return cli_usage_error(CMD, "--dtype: '%s' is not f32 or f16", v);
            o->f16 = strcmp(v, "f16") == 0;
            o->have_dtype = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error(CMD, "unknown option '%s'", a);
        } else if (!o->in) {
            o->in = a;
        } else if (!o->out) {
            o->out = a;
        } else {
            return cli_usage_error(CMD, "unexpected argument '%s'", a);
        }
    }
    if (!o->in || !o->out)
        return cli_usage_error(CMD, "needs IN and OUT");
    return 0;
}

static void usage(void)
{
    printf("usage: fmrt convert IN.safetensors OUT.fmw [--arch unet|dit] [--preset NAME]\n"
           "                    [--config key=value ...] [--classes K]\n"
           "       fmrt convert CLIP.safetensors OUT.fmw [--heads H] [--tokenizer clip|bytes]\n"
           "       fmrt convert IN.fmw OUT.safetensors [--raw] [--dtype f32|f16]\n\n"
           "Converts between safetensors (PyTorch, Hugging Face) and fmrt weights files; the\n"
           "direction follows IN's contents. Everything is checked before OUT is written.\n\n"
           "safetensors -> weights: a state dict of the contract's network under fmrt's names\n"
           "(time_lin1.weight, conv_in.weight, enc.0.norm1.weight, mid.1.qkv.weight, ...),\n"
           "tensors F32, F16 or BF16. The config comes from --preset (mnist, tiny, cifar,\n"
           "cifar-small, dit, dit-tiny, dit-cifar), --config and --classes (as for fmrt\n"
           "train), or, without them, from IN's \"fmrt.config\" metadata. Every\n"
           "tensor is checked against the config's layout: the first one missing, of\n"
           "another shape or unexpected is named. heads and groups shape no tensor: give\n"
           "the ones the network was trained with.\n\n"
           "Hugging Face CLIP -> weights: a transformers.CLIPTextModel's model.safetensors\n"
           "(text_model.*; a whole CLIPModel's text_model.* part, its vision tower ignored)\n"
           "becomes a text encoder of its own (arch=clip, docs/spec/text.md): vocabulary,\n"
           "context, width, depth and MLP width from the shapes; --heads H (not in the\n"
           "tensors; default width / 64, OpenAI CLIP's); --tokenizer clip (default, CLIP's\n"
           "BPE, 49408 ids) or bytes (the byte-level tokenizer, 259 ids).\n\n"
           "weights -> safetensors: the canonical tensors (the EMA weights of a trainer's\n"
           "file), or the raw ones with --raw; F32, or F16 with --dtype f16; the config,\n"
           "step and seed in the metadata.\n");
}

/* a's suffix is s. */
static int ends_with(const char *a, const char *s)
{
    size_t la = strlen(a), ls = strlen(s);
    return la >= ls && strcmp(a + la - ls, s) == 0;
}

/* The first 8 bytes of path (fewer for a short file) and its size. */
static int sniff(const char *path, unsigned char magic[8], size_t *n, uint64_t *size)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return cli_error("%s is not a regular file", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    *n = fread(magic, 1, 8, f);
    fclose(f);
    *size = (uint64_t)st.st_size;
    return 0;
}

/* The first field where the two configs differ, as "key=a" and "key=b". */
static void first_difference(const fm_config *a, const fm_config *b, char *fa, char *fb, size_t len)
{
    char sa[320], sb[320];
    fm_config_format(a, sa, sizeof sa);
    fm_config_format(b, sb, sizeof sb);
    const char *pa = sa, *pb = sb;
    while (*pa && *pb) {
        size_t ka = strcspn(pa, " "), kb = strcspn(pb, " ");
        if (ka != kb || memcmp(pa, pb, ka) != 0) {
            snprintf(fa, len, "%.*s", (int)ka, pa);
            snprintf(fb, len, "%.*s", (int)kb, pb);
            return;
        }
        pa += ka + (pa[ka] == ' ');
        pb += kb + (pb[kb] == ' ');
    }
    snprintf(fa, len, "%s", sa);
    snprintf(fb, len, "%s", sb);
}

static int meta_u64(const st_file *f, const char *in, const char *key, uint64_t *v, int *have)
{
    const char *s = st_meta_get(f, key);
    *have = s != NULL;
    if (!s)
        return 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] < '0' || s[0] > '9')
        return cli_error("%s: __metadata__ %s: '%s' is not a decimal integer", in, key, s);
    *v = x;
    return 0;
}

static const char *dtype_summary(const st_file *f)
{
    int seen[ST_NDTYPES] = {0}, kinds = 0;
    st_dtype one = ST_F32;
    for (int i = 0; i < f->n; i++)
        if (!seen[f->t[i].dtype]++) {
            kinds++;
            one = f->t[i].dtype;
        }
    return kinds == 1 ? st_dtype_name(one) : kinds ? "mixed dtypes" : "no tensors";
}

/* A safetensors file in memory, and what st_to_fmw builds from it. */
typedef struct st_job {
    const convert_opts *o;
    unsigned char *data; /* the whole file */
    size_t len;
    st_file f;
    int parsed;
    fm_config cfg;
    fm_param *params; /* the config's layout: np tensors, P floats */
    int np;
    int64_t P;
    float *flat;      /* [P] the parameters as f32 */
    fm_wtensor *wt;   /* [np] their entries in the weights file */
    fm_wmeta meta[2]; /* step and seed, when the file has them */
    int nm;
    const char *hf;   /* a transformers CLIP file: its text encoder's prefix, else NULL */
    char err[1024];
} st_job;

/* The file, read and parsed. The header length is checked first, so that a hostile
 * one is refused before the file is read; files often mistaken for safetensors are
 * named. */
static int st_read(st_job *j)
{
    const char *in = j->o->in;
    unsigned char first[8];
    size_t got = 0;
    uint64_t size = 0, hn;
    if (sniff(in, first, &got, &size))
        return 1;
    if (got >= 4 && memcmp(first, "PK\003\004", 4) == 0)
        return cli_error("%s is a zip archive (torch.save's format?), not safetensors: save with "
                         "safetensors.torch.save_file(model.state_dict(), ...)",
                         in);
    if (got >= 2 && first[0] == 0x80 && first[1] >= 2 && first[1] <= 5)
        return cli_error("%s is a Python pickle, not safetensors: save with "
                         "safetensors.torch.save_file(model.state_dict(), ...)",
                         in);
    /* None of these opens a safetensors file a reader would take: as the little-endian
     * header length their first 8 bytes are over 16 MiB (IDX: 00 00 08 01 ... is at
     * least 0x01080000), so naming them loses nothing. */
    const char *kind = fm_file_kind(first, got);
    if (kind)
        return cli_error("%s is %s, not a safetensors file", in, kind);
    if (got == 8 && st_header_length(first, size, &hn, j->err, sizeof j->err))
        return cli_error("%s: %s", in, j->err);
    if (cli_read_file(in, &j->data, &j->len))
        return 1;
    if (st_parse(j->data, j->len, &j->f, j->err, sizeof j->err))
        return cli_error("%s: %s", in, j->err);
    j->parsed = 1;
    return 0;
}

/* The config: from the flags, else from the file's metadata; the tensors must fit it,
 * and flags that fit the tensors must still agree with the metadata (heads and groups
 * shape no tensor: a file that says otherwise is a different model). */
static int st_choose_config(st_job *j)
{
    const convert_opts *o = j->o;
    fm_config meta_cfg;
    int r = st_fmrt_config(&j->f, &meta_cfg, j->err, sizeof j->err);
    if (r > 0 && !o->cfg.given)
        return cli_error("%s: %s", o->in, j->err);
    int have_meta = r == 0;
    if (o->cfg.given) {
        if (cli_build_config(&o->cfg, &j->cfg))
            return 1;
    } else if (have_meta) {
        j->cfg = meta_cfg;
    } else {
        return cli_error("%s has no %s metadata: name the model's config with --preset, "
                         "--config and --classes (as for fmrt train)",
                         o->in, ST_META_CONFIG);
    }
    if (st_fmrt_check(&j->f, &j->cfg, j->err, sizeof j->err))
        return cli_error("%s: %s", o->in, j->err);
    if (o->cfg.given && have_meta && !fm_config_equal(&j->cfg, &meta_cfg)) {
        char a[320], b[320];
        first_difference(&j->cfg, &meta_cfg, a, b, sizeof a);
        return cli_error("%s: the flags give %s, the file's %s has %s (drop the flags to use the "
                         "file's)",
                         o->in, a, ST_META_CONFIG, b);
    }
    return 0;
}

/* Step and seed from the metadata, when there, into the weights file's metadata. */
static int st_gather_meta(st_job *j)
{
    uint64_t v[2] = {0, 0};
    int have[2];
    const char *from[2] = {ST_META_STEP, ST_META_SEED}, *to[2] = {"step", "seed"};
    for (int k = 0; k < 2; k++) {
        if (meta_u64(&j->f, j->o->in, from[k], &v[k], &have[k]))
            return 1;
        if (have[k]) {
            snprintf(j->meta[j->nm].key, sizeof j->meta[j->nm].key, "%s", to[k]);
            j->meta[j->nm++].value = v[k];
        }
    }
    return 0;
}

/* Every parameter of the layout as f32 (finite) in flat, with its weights entry. */
static int st_gather_tensors(st_job *j)
{
    j->params = malloc(sizeof *j->params * FM_MAX_PARAMS);
    j->np = j->params ? fm_model_layout(&j->cfg, j->params, FM_MAX_PARAMS, &j->P) : -1;
    j->flat = j->np > 0 ? malloc((size_t)j->P * sizeof(float)) : NULL;
    j->wt = j->np > 0 ? calloc((size_t)j->np, sizeof *j->wt) : NULL;
    if (!j->flat || !j->wt)
        return cli_error("out of memory for the %s parameters", j->o->in);
    for (int i = 0; i < j->np; i++) {
        const fm_param *p = &j->params[i];
        const st_tensor *t = st_find(&j->f, p->name);
        float *dst = j->flat + p->offset;
        if (st_to_f32(t, dst, j->err, sizeof j->err))
            return cli_error("%s: %s", j->o->in, j->err);
        size_t bad = fm_f32_nonfinite(dst, (size_t)t->numel, NULL);
        if (bad)
            return cli_error("%s: tensor %s: %zu of its %" PRIu64
                             " values are not finite (NaN or inf)",
                             j->o->in, p->name, bad, t->numel);
        fm_wtensor_of_param(&j->wt[i], "", p, j->flat); /* names of the layout: they fit */
    }
    return 0;
}

static int st_write(st_job *j)
{
    cli_mem smem = {0};
    fm_arena scratch;
    int rc = cli_host_arena(&scratch, fm_weights_save_scratch(j->np, j->nm), &smem);
    if (rc == 0 && fm_weights_save(j->o->out, FM_WEIGHTS_KIND_WEIGHTS, &j->cfg, j->wt, j->np,
                                   j->meta, j->nm, &scratch, j->err, sizeof j->err) != FM_OK)
        rc = cli_error("%s", j->err);
    cli_mem_free(&smem);
    if (rc == 0) {
        char cs[320];
        fm_config_format(&j->cfg, cs, sizeof cs);
        printf("wrote %s: weights, %d tensors, %lld parameters from %s (%s)\nconfig %s\n",
               j->o->out, j->np, (long long)j->P, j->o->in, dtype_summary(&j->f), cs);
    }
    return rc;
}

/* ---- Hugging Face CLIP text models ------------------------------------------------------ */

/* The text encoder's tensors are "text_model.<name>" in a CLIPModel file and in a
 * CLIPTextModel file of transformers 4 (the Hub's), "<name>" in one of transformers 5. */
#define HF_TEXT "text_model."
#define HF_TOKEN "embeddings.token_embedding.weight"
#define HF_POS "embeddings.position_embedding.weight"

/* The prefix of f's text encoder when f is a transformers CLIP state dict (its token
 * embedding, or failing that any text_model.* tensor: a broken one, whose missing
 * tensors are then named); NULL when it is not one. */
static const char *hf_clip_prefix(const st_file *f)
{
    if (st_find(f, HF_TEXT HF_TOKEN))
        return HF_TEXT;
    if (st_find(f, HF_TOKEN))
        return "";
    for (int i = 0; i < f->n; i++)
        if (strncmp(f->t[i].name, HF_TEXT, strlen(HF_TEXT)) == 0)
            return HF_TEXT;
    return NULL;
}

/* Tensors of a CLIP file that are not the text encoder's and are left out: CLIPModel's
 * vision tower and projections, and the position_ids buffer older transformers saved. */
static int hf_ignored(const char *name, const char *pre)
{
    static const char *const other[] = {"vision_model.", "visual_projection.",
                                        "text_projection.", "logit_scale"};
    for (size_t k = 0; k < sizeof other / sizeof other[0]; k++)
        if (strncmp(name, other[k], strlen(other[k])) == 0)
            return 1;
    size_t n = strlen(pre);
    return strncmp(name, pre, n) == 0 && strcmp(name + n, "embeddings.position_ids") == 0;
}

/* The transformers name (after prefix pre) of fmrt's text.* parameter name
 * (docs/spec/text.md, "From Hugging Face"); 1 when name is not an encoder's. */
static int hf_name(const char *name, const char *pre, char *buf, size_t len)
{
    static const char *const part[][2] = {
        {"ln1.", "layer_norm1."},      {"q.", "self_attn.q_proj."}, {"k.", "self_attn.k_proj."},
        {"v.", "self_attn.v_proj."},   {"out.", "self_attn.out_proj."},
        {"ln2.", "layer_norm2."},      {"fc1.", "mlp.fc1."},        {"fc2.", "mlp.fc2."},
    };
    int layer, n = 0;
    if (strcmp(name, "text.token_emb.weight") == 0)
        return snprintf(buf, len, "%s" HF_TOKEN, pre), 0;
    if (strcmp(name, "text.pos_emb.weight") == 0)
        return snprintf(buf, len, "%s" HF_POS, pre), 0;
    if (strncmp(name, "text.final_ln.", 14) == 0)
        return snprintf(buf, len, "%sfinal_layer_norm.%s", pre, name + 14), 0;
    if (sscanf(name, "text.layers.%d.%n", &layer, &n) == 1 && n > 0)
        for (size_t k = 0; k < sizeof part / sizeof part[0]; k++)
            if (strncmp(name + n, part[k][0], strlen(part[k][0])) == 0)
                return snprintf(buf, len, "%sencoder.layers.%d.%s%s", pre, layer, part[k][1],
                                name + n + strlen(part[k][0])),
                       0;
    return 1;
}

/* "512x768" */
static const char *dims(const uint64_t *shape, int ndim, char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? "x%llu" : "%llu", (unsigned long long)shape[d]);
    return buf;
}

/* A 2-D tensor called name: its shape, or 1 after naming the problem. */
static int hf_2d(const st_job *j, const char *name, const char *what, uint64_t *rows, uint64_t *cols)
{
    char d[96];
    const st_tensor *t = st_find(&j->f, name);
    if (!t)
        return cli_error("%s: missing tensor %s (%s)", j->o->in, name, what);
    if (t->ndim != 2)
        return cli_error("%s: tensor %s has shape %s; %s is 2-D", j->o->in, name,
                         dims(t->shape, t->ndim, d, sizeof d), what);
    *rows = t->shape[0], *cols = t->shape[1];
    return 0;
}

/* The config from the shapes and the flags, checked. */
static int hf_config(st_job *j)
{
    const convert_opts *o = j->o;
    const char *in = o->in;
    const char *pre = j->hf;
    uint64_t V, Dt, L, Dp, F, Df, depth = 0;
    char name[160], msg[256];
    snprintf(name, sizeof name, "%s" HF_TOKEN, pre);
    if (hf_2d(j, name, "the token embedding [vocab, width]", &V, &Dt))
        return 1;
    snprintf(name, sizeof name, "%s" HF_POS, pre);
    if (hf_2d(j, name, "the position embedding [ctx, width]", &L, &Dp))
        return 1;
    if (Dp != Dt)
        return cli_error("%s: %s is %llux%llu, the token embedding's width is %llu", in, name,
                         (unsigned long long)L, (unsigned long long)Dp, (unsigned long long)Dt);
    for (;; depth++) {
        snprintf(name, sizeof name, "%sencoder.layers.%llu.layer_norm1.weight", pre,
                 (unsigned long long)depth);
        if (!st_find(&j->f, name) || depth > 1000)
            break;
    }
    if (depth == 0)
        return cli_error("%s: missing tensor %sencoder.layers.0.layer_norm1.weight (a CLIP text "
                         "model's first layer)", in, pre);
    snprintf(name, sizeof name, "%sencoder.layers.0.mlp.fc1.weight", pre);
    if (hf_2d(j, name, "fc1's weight [ff, width]", &F, &Df))
        return 1;
    int heads = o->heads;
    if (!heads) {
        if (Dt % 64 != 0)
            return cli_error("%s: width %llu is not a multiple of 64, the head width of OpenAI's "
                             "CLIP: give the model's heads with --heads (config.json's "
                             "num_attention_heads)", in, (unsigned long long)Dt);
        heads = (int)(Dt / 64);
    }
    fm_config *c = &j->cfg;
    memset(c, 0, sizeof *c);
    const fm_arch *a = fm_arch_find("clip");
    if (!a)
        return cli_error("this fmrt has no arch=clip");
    c->arch = a->id;
    const uint64_t big = 1 << 20; /* beyond every range: validation names the field */
    c->text_vocab = (int)(V < big ? V : big);
    c->text_ctx = (int)(L < big ? L : big);
    c->text_width = (int)(Dt < big ? Dt : big);
    c->text_depth = (int)(depth < big ? depth : big);
    c->text_heads = heads;
    c->text_ff = (int)(F < big ? F : big);
    c->text_tokenizer = o->tokenizer ? o->tokenizer : TOK_CLIP;
    if (fm_config_validate(c, msg, sizeof msg) != FM_OK)
        return cli_error("%s: %s (the config of its shapes, --heads and --tokenizer)", in, msg);
    /* The tokenizer's ids must be tokens of the model: the byte-level tokenizer's 259
     * (bytes, BOS, EOS, PAD); CLIP's BPE has its 512 byte tokens, then its merges, then
     * BOS and EOS last (49408 ids with the full merges file: docs/spec/text.md). */
    const int clip = c->text_tokenizer == TOK_CLIP, need = clip ? 514 : 259;
    if (c->text_vocab < need)
        return cli_error("%s: a vocabulary of %d tokens is too small for %s (at least %d): %s",
                         in, c->text_vocab, clip ? "CLIP's BPE" : "the byte-level tokenizer",
                         need,
                         clip ? "--tokenizer bytes for a byte-level model (259 ids)"
                              : "--tokenizer clip for CLIP's BPE (49408 ids)");
    return 0;
}

/* Every parameter of the layout from its transformers tensor, shape for shape; then
 * every tensor of the file taken or known to be left out. */
static int hf_gather_tensors(st_job *j)
{
    const char *in = j->o->in;
    char name[160], d1[96], d2[96];
    j->params = malloc(sizeof *j->params * FM_MAX_PARAMS);
    j->np = j->params ? fm_model_layout(&j->cfg, j->params, FM_MAX_PARAMS, &j->P) : -1;
    j->flat = j->np > 0 ? malloc((size_t)j->P * sizeof(float)) : NULL;
    j->wt = j->np > 0 ? calloc((size_t)j->np, sizeof *j->wt) : NULL;
    unsigned char *used = calloc((size_t)j->f.n + 1, 1);
    int rc = 0;
    if (!j->flat || !j->wt || !used) {
        free(used);
        return cli_error("out of memory for the %s parameters", in);
    }
    for (int i = 0; i < j->np && !rc; i++) {
        const fm_param *p = &j->params[i];
        const st_tensor *t;
        uint64_t want[4];
        for (int d = 0; d < p->t.ndim; d++)
            want[d] = (uint64_t)p->t.shape[d];
        if (hf_name(p->name, j->hf, name, sizeof name)) {
            rc = cli_error("%s: no transformers name for %s", in, p->name);
        } else if (!(t = st_find(&j->f, name))) {
            rc = cli_error("%s: missing tensor %s", in, name);
        } else if (t->ndim != p->t.ndim || memcmp(t->shape, want, sizeof want[0] * (size_t)t->ndim)) {
            rc = cli_error("%s: tensor %s has shape %s, a CLIP text model of width %d and MLP "
                           "width %d needs %s",
                           in, name, dims(t->shape, t->ndim, d1, sizeof d1), j->cfg.text_width,
                           j->cfg.text_ff, dims(want, p->t.ndim, d2, sizeof d2));
        } else {
            float *dst = j->flat + p->offset;
            used[t - j->f.t] = 1;
            if (st_to_f32(t, dst, j->err, sizeof j->err)) {
                rc = cli_error("%s: %s", in, j->err);
            } else {
                size_t bad = fm_f32_nonfinite(dst, (size_t)t->numel, NULL);
                if (bad)
                    rc = cli_error("%s: tensor %s: %zu of its %" PRIu64
                                   " values are not finite (NaN or inf)",
                                   in, name, bad, t->numel);
                fm_wtensor_of_param(&j->wt[i], "", p, j->flat);
            }
        }
    }
    for (int i = 0; i < j->f.n && !rc; i++)
        if (!used[i] && !hf_ignored(j->f.t[i].name, j->hf))
            rc = cli_error("%s: unexpected tensor %s: not part of a CLIP text model of %d layers",
                           in, j->f.t[i].name, j->cfg.text_depth);
    free(used);
    return rc;
}

static int hf_clip_to_fmw(st_job *j)
{
    const convert_opts *o = j->o;
    if (o->cfg.given)
        return cli_usage_error(CMD, "%s is a CLIP text model (transformers): its config comes "
                               "from its shapes, not from --preset, --config or --classes "
                               "(--heads and --tokenizer name what they cannot)",
                               o->in);
    int rc = hf_config(j);
    if (rc == 0)
        rc = hf_gather_tensors(j);
    if (rc == 0)
        rc = st_write(j);
    if (rc == 0)
        printf("CLIP text model (transformers): %d tokens (%s), context %d, width %d, %d layers, "
               "%d heads%s, MLP %d\n",
               j->cfg.text_vocab, j->cfg.text_tokenizer == TOK_CLIP ? "CLIP BPE" : "bytes",
               j->cfg.text_ctx, j->cfg.text_width, j->cfg.text_depth, j->cfg.text_heads,
               o->heads ? "" : " (width / 64; --heads for another)", j->cfg.text_ff);
    return rc;
}

static int st_to_fmw(const convert_opts *o)
{
    st_job j;
    memset(&j, 0, sizeof j);
    j.o = o;
    int rc = st_read(&j);
    j.hf = rc == 0 ? hf_clip_prefix(&j.f) : NULL;
    if (rc == 0 && !j.hf && (o->heads || o->tokenizer))
        rc = cli_usage_error(CMD, "--heads and --tokenizer are for a CLIP text model: %s has no "
                             "%s", o->in, HF_TEXT HF_TOKEN);
    if (rc == 0 && j.hf) {
        rc = hf_clip_to_fmw(&j);
        goto done;
    }
    if (rc == 0)
        rc = st_choose_config(&j);
    if (rc == 0)
        rc = st_gather_meta(&j);
    if (rc == 0)
        rc = st_gather_tensors(&j);
    if (rc == 0)
        rc = st_write(&j);
done:
    free(j.wt);
    free(j.flat);
    free(j.params);
    if (j.parsed)
        st_free(&j.f);
    free(j.data);
    return rc;
}

/* n floats of tensor `name` as little-endian F16 into h; a value beyond F16's range
 * is an error (it would become inf). */
/* F16 of n floats into h. An overflow is an error (the value would become inf); a
 * nonzero value below F16's normal range (6.1e-5) loses digits as a subnormal or
 * becomes 0, counted in small[0] (now 0) and small[1] (subnormal) for one warning. */
static int pack_f16(const char *in, const char *name, const void *src, size_t n, uint8_t *h,
                    size_t small[2])
{
    for (size_t k = 0; k < n; k++) {
        float v;
        memcpy(&v, (const uint8_t *)src + 4 * k, sizeof v);
        uint16_t x = st_f32_to_f16(v);
        if ((x & 0x7c00) == 0x7c00)
            return cli_error("%s: tensor %s: value %g is beyond F16's range (65504): keep F32", in,
                             name, (double)v);
        if (v != 0 && (x & 0x7c00) == 0)
            small[(x & 0x7fff) != 0]++;
        h[2 * k] = (uint8_t)x;
        h[2 * k + 1] = (uint8_t)(x >> 8);
    }
    return 0;
}

/* The metadata of a safetensors file made from w: format, config, and step and seed
 * when w has them (cs[320], step[24] and seed[24] hold the strings); returns the count. */
static int meta_of(const fm_weights *w, st_meta meta[4], char *cs, char *step, char *seed)
{
    int nm = 0;
    uint64_t v;
    fm_config_format(&w->cfg, cs, 320);
    meta[nm++] = (st_meta){"format", "pt"};
    meta[nm++] = (st_meta){ST_META_CONFIG, cs};
    if (fm_weights_meta(w, "step", &v)) {
        snprintf(step, 24, "%" PRIu64, v);
        meta[nm++] = (st_meta){ST_META_STEP, step};
    }
    if (fm_weights_meta(w, "seed", &v)) {
        snprintf(seed, 24, "%" PRIu64, v);
        meta[nm++] = (st_meta){ST_META_SEED, seed};
    }
    return nm;
}

static int fmw_to_st(const convert_opts *o)
{
    fm_weights w;
    size_t bytes;
    cli_mem wmem = {0};
    char err[512];
    if (cli_load_weights(o->in, &w, &bytes, &wmem))
        return 1;
    int rc = 1, has_raw = fm_weights_has_raw(&w);
    fm_param *params = NULL;
    st_tensor *t = NULL;
    uint8_t *half = NULL, *hdr = NULL;
    size_t small[2] = {0, 0}; /* values F16 turned to 0, to subnormals */
    const void **chunks = NULL;
    size_t *sizes = NULL;
    if (o->raw && !has_raw) {
        cli_error("%s holds one set of weights (no raw.* tensors): convert it without --raw",
                  o->in);
        goto done;
    }
    if (cli_check_weights(o->in, &w, FM_MODE_SAMPLE, o->raw))
        goto done;
    int64_t P;
    params = malloc(sizeof *params * FM_MAX_PARAMS);
    int np = params ? fm_model_layout(&w.cfg, params, FM_MAX_PARAMS, &P) : -1;
    t = np > 0 ? calloc((size_t)np, sizeof *t) : NULL;
    chunks = np > 0 ? calloc((size_t)np + 1, sizeof *chunks) : NULL;
    sizes = np > 0 ? calloc((size_t)np + 1, sizeof *sizes) : NULL;
    half = o->f16 && np > 0 ? malloc((size_t)P * 2) : NULL;
    if (!t || !chunks || !sizes || (o->f16 && !half)) {
        cli_error("out of memory for the %s parameters", o->in);
        goto done;
    }
    for (int i = 0; i < np; i++) {
        const fm_param *p = &params[i];
        char name[FM_WEIGHTS_NAME + 8];
        fm_wtensor src;
        snprintf(name, sizeof name, "%s%s", o->raw ? FM_RAW_PREFIX : "", p->name);
        /* cli_check_weights has found every one with its shape. */
        if (fm_weights_tensor(&w, fm_weights_find(&w, name), &src) != FM_OK) {
            cli_error("%s: tensor %s unreadable", o->in, name);
            goto done;
        }
        t[i].name = p->name;
        t[i].dtype = o->f16 ? ST_F16 : ST_F32;
        t[i].ndim = p->t.ndim;
        for (int d = 0; d < p->t.ndim; d++)
            t[i].shape[d] = (uint64_t)p->t.shape[d];
        chunks[i + 1] = src.data;
        sizes[i + 1] = src.bytes;
        if (!o->f16)
            continue;
        uint8_t *h = half + 2 * p->offset;
        size_t n = src.bytes / sizeof(float);
        if (pack_f16(o->in, name, src.data, n, h, small))
            goto done;
        chunks[i + 1] = h;
        sizes[i + 1] = 2 * n;
    }
    char cs[320], step[24], seed[24];
    st_meta meta[4];
    int nm = meta_of(&w, meta, cs, step, seed);
    size_t hlen;
    if (st_header(t, np, meta, nm, &hdr, &hlen, err, sizeof err)) {
        cli_error("%s", err);
        goto done;
    }
    chunks[0] = hdr;
    sizes[0] = hlen;
    if (fm_file_write_atomic(o->out, chunks, sizes, np + 1, err, sizeof err) != FM_OK) {
        cli_error("%s", err);
        goto done;
    }
    if (small[0] || small[1])
        fprintf(stderr,
                "%swarning: %zu nonzero values became 0 and %zu kept fewer digits as F16 "
                "subnormals (|v| < 6.1e-5); --dtype f32 keeps them\n",
                cli_prefix, small[0], small[1]);
    printf("wrote %s: safetensors, %d tensors, %lld parameters, %s (%s weights of %s)\n", o->out,
           np, (long long)P, o->f16 ? "F16" : "F32",
           o->raw    ? "raw"
           : has_raw ? "EMA"
                     : "canonical",
           o->in);
    rc = 0;
done:
    free(hdr);
    free(half);
    free(sizes);
    free(chunks);
    free(t);
    free(params);
    cli_mem_free(&wmem);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    convert_opts o;
    int rc = parse_convert_args(argc, argv, &o);
    if (rc == CLI_HELP) {
        usage();
        return 0;
    }
    if (rc)
        return rc;
    /* A bare name missing here may be a shipped model (cli_find_input), as for sample. */
    char found[CLI_WEIGHTS_PATH];
    if (cli_find_input(o.in, found, sizeof found, &o.in))
        return 1;
    cli_files outs = {0}, ins = {0};
    cli_files_add(&outs, "OUT", o.out);
    cli_files_add(&ins, "IN", o.in);
    if (cli_check_outputs(&outs, &ins))
        return 1;
    unsigned char magic[8];
    size_t n = 0;
    uint64_t size;
    if (sniff(o.in, magic, &n, &size))
        return 1;
    int from_fmw = n == 8 && memcmp(magic, FM_WEIGHTS_MAGIC, 8) == 0;
    if (from_fmw) {
        if (o.cfg.given || o.heads || o.tokenizer)
            return cli_usage_error(CMD,
                                   "--preset, --config, --classes, --heads and --tokenizer are "
                                   "for a safetensors IN: %s is a weights file, which carries "
                                   "its config",
                                   o.in);
        if (ends_with(o.out, ".fmw"))
            return cli_usage_error(CMD,
                                   "%s is a weights file, so OUT gets safetensors: name it "
                                   "*.safetensors, not %s",
                                   o.in, o.out);
        return fmw_to_st(&o);
    }
    if (o.raw || o.have_dtype)
        return cli_usage_error(CMD, "--raw and --dtype are for a weights IN (.fmw): %s is not one",
                               o.in);
    /* (--heads and --tokenizer with a safetensors IN that is not CLIP: st_to_fmw.) */
    if (ends_with(o.out, ".safetensors"))
        return cli_usage_error(CMD,
                               "%s is read as safetensors, so OUT gets a weights file: name "
                               "it *.fmw, not %s",
                               o.in, o.out);
    return st_to_fmw(&o);
}
