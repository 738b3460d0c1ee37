/* A folder of PNG/JPEG images (cli_data.h; docs/data-pack.md, "Sources and what they
 * become"), laid out as torchvision's ImageFolder reads one:
 *
 *   DIR/train/<class>/.../x.png    labelled: the classes are the sorted sub-folders
 *   DIR/train/x.png                unlabelled (num_classes 0, every label 0)
 *   DIR/test/... or DIR/val/...    the test split
 *   DIR/<class>/... or DIR/x.png   the train split when DIR has no train/ folder
 *                                  (its test/ and val/ folders are then not classes)
 *
 * Order: in each folder its images sorted by name (strcmp, bytes: the same index order
 * on every machine and locale), then its sub-folders in that order; names starting
 * with '.' are skipped, files of other extensions ignored. Two passes: the headers
 * (size, colour) decide the set's shape, then every image is decoded (libpng,
 * libjpeg-turbo) straight into one block at that shape. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE */
#include <jerror.h>
#include <png.h>

#include "checkpoint.h"
#include "cli.h"
#include "cli_data.h"
#include "size.h"

#define MAX_SIDE 16384  /* larger images are refused (1 GiB decoded as RGBA) */
#define MAX_DEPTH 32    /* folders below a class folder; deeper is taken for a link loop */
#define MAX_CLASSES 256 /* labels are one byte */

/* ---- the file list -------------------------------------------------------------------- */

typedef struct entry {
    char *path;
    int label;
    int w, h, colour; /* from its header (pass 1) */
} entry;

typedef struct flist {
    entry *v;
    size_t n, cap;
} flist;

static void flist_free(flist *L)
{
    for (size_t i = 0; i < L->n; i++)
        free(L->v[i].path);
    free(L->v);
    memset(L, 0, sizeof *L);
}

/* "dir/name", malloc'd (NULL when out of memory); no doubled '/' after "dir/". */
static char *join(const char *dir, const char *name)
{
    const size_t a = strlen(dir), b = strlen(name);
    const size_t slash = a == 0 || dir[a - 1] != '/';
    char *p = malloc(a + slash + b + 1);
    if (p) {
        memcpy(p, dir, a);
        p[a] = '/';
        memcpy(p + a + slash, name, b + 1);
    }
    return p;
}

static int flist_add(flist *L, const char *dir, const char *name, int label)
{
    if (L->n >= INT32_MAX)
        return cli_error("%s: more than 2^31 - 1 images", dir);
    if (L->n == L->cap) {
        const size_t cap = L->cap ? 2 * L->cap : 256;
        entry *v = realloc(L->v, cap * sizeof *v);
        if (!v)
            return cli_error("cannot allocate the list of %zu images", cap);
        L->v = v, L->cap = cap;
    }
    char *p = join(dir, name);
    if (!p)
        return cli_error("cannot allocate the path of %s in %s", name, dir);
    L->v[L->n++] = (entry){.path = p, .label = label};
    return 0;
}

/* ---- folders ---------------------------------------------------------------------------- */

enum { OTHER, IMAGE, FOLDER };

/* One folder's names (hidden ones skipped), sorted by strcmp, each with its kind. */
typedef struct dirlist {
    char **v;
    int *kind;
    size_t n;
} dirlist;

static void dirlist_free(dirlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    free(l->kind);
    memset(l, 0, sizeof *l);
}

static int image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
                   strcasecmp(dot, ".jpeg") == 0);
}

/* A folder, an image (a regular file by its extension) or other; stat follows links,
 * and a dangling one is other. */
static int kind_of(const char *dir, const char *name, int *kind)
{
    struct stat st;
    char *p = join(dir, name);
    if (!p)
        return cli_error("cannot allocate the path of %s in %s", name, dir);
    *kind = OTHER;
    if (stat(p, &st) == 0)
        *kind = S_ISDIR(st.st_mode) ? FOLDER : S_ISREG(st.st_mode) && image_ext(name) ? IMAGE
                                                                                      : OTHER;
    free(p);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dirlist_push(dirlist *l, size_t *cap, const char *name)
{
    if (l->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        char **v = realloc(l->v, *cap * sizeof *v);
        if (!v)
            return 1;
        l->v = v;
    }
    return (l->v[l->n] = strdup(name)) ? (l->n++, 0) : 1;
}

static int dirlist_read(const char *dir, dirlist *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d)
        return cli_error("cannot open folder %s: %s", dir, strerror(errno));
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        const struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                rc = cli_error("cannot read folder %s: %s", dir, strerror(errno));
            break;
        }
        if (e->d_name[0] != '.' && dirlist_push(l, &cap, e->d_name)) {
            rc = cli_error("cannot allocate the names of folder %s", dir);
            break;
        }
    }
    closedir(d);
    if (rc == 0 && l->n) {
        qsort(l->v, l->n, sizeof *l->v, cmp_name);
        if (!(l->kind = malloc(l->n * sizeof *l->kind)))
            rc = cli_error("cannot allocate the names of folder %s", dir);
    }
    for (size_t i = 0; rc == 0 && i < l->n; i++)
        rc = kind_of(dir, l->v[i], &l->kind[i]);
    if (rc)
        dirlist_free(l);
    return rc;
}

/* Every image below dir, labelled `label`: its own, then each sub-folder's. */
static int walk(const char *dir, int label, int depth, flist *L)
{
    dirlist l;
    if (depth > MAX_DEPTH)
        return cli_error("%s: folders nested more than %d deep (a link to a folder above it?)",
                         dir, MAX_DEPTH);
    if (dirlist_read(dir, &l))
        return 1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        if (l.kind[i] == IMAGE)
            rc = flist_add(L, dir, l.v[i], label);
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        if (l.kind[i] == FOLDER) {
            char *sub = join(dir, l.v[i]);
            rc = sub ? walk(sub, label, depth + 1, L)
                     : cli_error("cannot allocate the path of %s in %s", l.v[i], dir);
            free(sub);
        }
    dirlist_free(&l);
    return rc;
}

/* Class `k`'s name (its folder's) appended to d->names. */
static int add_class(const char *root, const char *name, int k, cli_data *d)
{
    const size_t len = strlen(name), at = strlen(d->names);
    if (k >= MAX_CLASSES)
        return cli_error("%s: more than %d class folders; labels are one byte", root,
                         MAX_CLASSES);
    if (!fm_class_name_ok(name, len))
        return cli_error("%s/%s: the folder's name is not a class name (1 to %d printable "
                         "bytes, no ',')",
                         root, name, FM_CLASS_NAME_MAX - 1);
    if (at + (k > 0) + len + 1 > sizeof d->names)
        return cli_error("%s: the class folders' names take more than %zu bytes", root,
                         sizeof d->names - 1);
    snprintf(d->names + at, sizeof d->names - at, "%s%s", k > 0 ? "\n" : "", name);
    d->num_classes = k + 1;
    return 0;
}

/* The class folders of root, each walked. Without loose images every folder is a
 * class (ImageFolder's rule), its label its index in the sorted list, and one without
 * images is an error (*empty names the first); with them, a folder holding images is. */
static int gather_classes(const char *root, const dirlist *l, int skip_splits, size_t loose,
                          flist *L, cli_data *d, char **empty)
{
    int k = 0, rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        if (l->kind[i] != FOLDER ||
            (skip_splits && (strcmp(l->v[i], "test") == 0 || strcmp(l->v[i], "val") == 0)))
            continue;
        char *sub = join(root, l->v[i]);
        if (!sub)
            return cli_error("cannot allocate the path of %s in %s", l->v[i], root);
        const size_t before = L->n;
        rc = walk(sub, k, 1, L);
        if (rc == 0 && loose && L->n > before)
            rc = cli_error("%s: images beside class folders (%s and %s/): put every image in "
                           "a class folder, or none",
                           root, L->v[0].path, sub);
        else if (rc == 0 && !loose)
            rc = add_class(root, l->v[i], k++, d);
        if (rc == 0 && !loose && L->n == before && !*empty)
            *empty = sub, sub = NULL;
        free(sub);
    }
    return rc;
}

/* The split's images into L: the loose ones of root (unlabelled), else the class
 * folders' (labelled). No image at all is named as such before an empty class. */
static int gather(const char *root, int skip_splits, flist *L, cli_data *d)
{
    dirlist l;
    char *empty = NULL;
    if (dirlist_read(root, &l))
        return 1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l.n; i++)
        if (l.kind[i] == IMAGE)
            rc = flist_add(L, root, l.v[i], 0);
    if (rc == 0)
        rc = gather_classes(root, &l, skip_splits, L->n, L, d, &empty);
    if (rc == 0 && L->n == 0)
        rc = cli_error("%s: no PNG or JPEG images", root);
    else if (rc == 0 && empty)
        rc = cli_error("%s: a class folder without PNG or JPEG images", empty);
    free(empty);
    dirlist_free(&l);
    return rc;
}

/* The split's folder: train is DIR/train, else DIR itself (skip_splits: without its
 * test/ and val/ folders); test is DIR/test, else DIR/val. */
static int split_root(const char *dir, const char *split, char **root, int *skip_splits)
{
    const int train = strcmp(split, "train") == 0;
    const char *names[2] = {train ? "train" : "test", train ? NULL : "val"};
    struct stat st;
    *skip_splits = 0;
    for (int k = 0; k < 2 && names[k]; k++) {
        if (!(*root = join(dir, names[k])))
            return cli_error("cannot allocate the path of %s", dir);
        if (stat(*root, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        free(*root);
        *root = NULL;
    }
    if (!train)
        return cli_error("%s has no test split (%s/test or %s/val)", dir, dir, dir);
    *skip_splits = 1;
    if (!(*root = strdup(dir)))
        return cli_error("cannot allocate the path of %s", dir);
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------ */

enum { BAD_DATA = 1, BAD_SIZE, BAD_CMYK, BAD_MEMORY };

/* One file as a decoder left it. */
typedef struct image {
    int w, h;
    int colour;   /* RGB, or a palette with a non-grey entry: 3 channels; else grey */
    int nch;      /* decoded: interleaved channels, 1..4 (2 and 4 carry alpha) */
    uint8_t *px;  /* decoded: h * w * nch bytes (malloc'd) */
    int why;      /* BAD_*: what failed */
    char msg[JMSG_LENGTH_MAX > 256 ? JMSG_LENGTH_MAX : 256]; /* the decoder's words */
} image;

static int image_pixels(image *im)
{
    const size_t bytes = (size_t)im->w * im->h * im->nch;
    if (!(im->px = malloc(bytes))) {
        im->why = BAD_MEMORY;
        snprintf(im->msg, sizeof im->msg, "%zu bytes for its pixels", bytes);
    }
    return im->px == NULL;
}

/* ---- PNG (libpng: errors longjmp back to png_run; warnings are silenced) ---- */

typedef struct png_job {
    FILE *f;
    png_structp png;
    png_infop info;
    png_bytep *rows;
    image *im;
} png_job;

static void png_fail(png_structp png, png_const_charp msg)
{
    png_job *j = png_get_error_ptr(png);
    snprintf(j->im->msg, sizeof j->im->msg, "%s", msg);
    j->im->why = BAD_DATA;
    png_longjmp(png, 1);
}

static void png_quiet(png_structp png, png_const_charp msg)
{
    (void)png, (void)msg;
}

/* 1 when every palette entry is grey (r = g = b): such a PNG counts as grey. */
static int palette_grey(png_structp png, png_infop info)
{
    png_colorp pal;
    int n = 0;
    if (!png_get_PLTE(png, info, &pal, &n))
        return 0;
    for (int i = 0; i < n; i++)
        if (pal[i].red != pal[i].green || pal[i].green != pal[i].blue)
            return 0;
    return 1;
}

/* The header, then (pixels) the image as 8-bit grey, grey+alpha, RGB or RGBA. All state
 * lives in *j, which the caller frees, so nothing here is lost to the longjmp. */
static int png_run(png_job *j, int pixels)
{
    image *im = j->im;
    if (setjmp(png_jmpbuf(j->png)))
        return 1;
    png_init_io(j->png, j->f);
    png_read_info(j->png, j->info);
    im->w = (int)png_get_image_width(j->png, j->info); /* libpng caps both at 10^6 */
    im->h = (int)png_get_image_height(j->png, j->info);
    const int ct = png_get_color_type(j->png, j->info);
    im->colour = ct == PNG_COLOR_TYPE_PALETTE ? !palette_grey(j->png, j->info)
                                              : (ct & PNG_COLOR_MASK_COLOR) != 0;
    if (im->w > MAX_SIDE || im->h > MAX_SIDE)
        return im->why = BAD_SIZE;
    if (!pixels)
        return 0;
    png_set_expand(j->png);   /* palette -> RGB, grey of 1..4 bits -> 8, tRNS -> alpha */
    png_set_scale_16(j->png); /* 16 bits -> 8: round(v * 255 / 65535) */
    (void)png_set_interlace_handling(j->png);
    png_read_update_info(j->png, j->info);
    im->nch = png_get_channels(j->png, j->info);
    const size_t stride = (size_t)im->w * im->nch;
    if (png_get_rowbytes(j->png, j->info) != stride)
        png_error(j->png, "rows not 8-bit after the transforms");
    if (image_pixels(im) || !(j->rows = malloc(sizeof *j->rows * im->h)))
        return im->why = BAD_MEMORY;
    for (int y = 0; y < im->h; y++)
        j->rows[y] = im->px + (size_t)y * stride;
    png_read_image(j->png, j->rows);
    png_read_end(j->png, NULL);
    return 0;
}

static int png_decode(FILE *f, image *im, int pixels)
{
    png_job j = {.f = f, .im = im};
    int rc = 1;
    j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &j, png_fail, png_quiet);
    if (j.png)
        j.info = png_create_info_struct(j.png);
    if (!j.info) {
        im->why = BAD_MEMORY;
        snprintf(im->msg, sizeof im->msg, "libpng's state");
    } else {
        rc = png_run(&j, pixels);
    }
    png_destroy_read_struct(&j.png, &j.info, NULL);
    free(j.rows);
    return rc;
}

/* ---- JPEG (libjpeg: error_exit longjmps back to jpeg_run; messages are silenced) ---- */

typedef struct jpeg_job {
    struct jpeg_error_mgr err; /* first: the handlers get it as cinfo->err */
    jmp_buf jump;
    struct jpeg_decompress_struct cinfo;
    image *im;
} jpeg_job;

static void jpeg_fail(j_common_ptr cinfo)
{
    jpeg_job *j = (jpeg_job *)cinfo->err;
    cinfo->err->format_message(cinfo, j->im->msg);
    j->im->why = BAD_DATA;
    longjmp(j->jump, 1);
}

/* A warning (level -1) that data are missing or damaged fails the image once decoded
 * (libjpeg goes on, filling grey); others (extra bytes between markers, an odd JFIF
 * version) leave the pixels whole. Trace messages (level >= 0) are dropped. */
static void jpeg_warn(j_common_ptr cinfo, int level)
{
    jpeg_job *j = (jpeg_job *)cinfo->err;
    const int code = cinfo->err->msg_code;
    if (level >= 0 || j->im->why)
        return;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
        code == JWRN_MUST_RESYNC) {
        cinfo->err->format_message(cinfo, j->im->msg);
        j->im->why = BAD_DATA;
    }
}

static int jpeg_run(jpeg_job *j, FILE *f, int pixels)
{
    image *im = j->im;
    struct jpeg_decompress_struct *ci = &j->cinfo;
    if (setjmp(j->jump))
        return 1;
    jpeg_create_decompress(ci);
    jpeg_stdio_src(ci, f);
    jpeg_read_header(ci, TRUE);
    im->w = (int)ci->image_width; /* at most 65500 */
    im->h = (int)ci->image_height;
    if (ci->jpeg_color_space == JCS_CMYK || ci->jpeg_color_space == JCS_YCCK)
        return im->why = BAD_CMYK;
    im->colour = ci->jpeg_color_space != JCS_GRAYSCALE;
    if (im->w > MAX_SIDE || im->h > MAX_SIDE)
        return im->why = BAD_SIZE;
    if (!pixels)
        return 0;
    ci->out_color_space = im->colour ? JCS_RGB : JCS_GRAYSCALE;
    jpeg_start_decompress(ci);
    im->nch = ci->output_components;
    if ((int)ci->output_width != im->w || (int)ci->output_height != im->h) {
        snprintf(im->msg, sizeof im->msg, "the decoder's size is not the header's");
        return im->why = BAD_DATA; /* scaling is never asked for */
    }
    if (image_pixels(im))
        return 1;
    while (ci->output_scanline < ci->output_height) {
        JSAMPROW row = im->px + (size_t)ci->output_scanline * im->w * im->nch;
        jpeg_read_scanlines(ci, &row, 1);
    }
    jpeg_finish_decompress(ci);
    return im->why != 0;
}

static int jpeg_decode(FILE *f, image *im, int pixels)
{
    jpeg_job j;
    memset(&j, 0, sizeof j); /* jpeg_destroy_decompress is then safe on any path */
    j.im = im;
    j.cinfo.err = jpeg_std_error(&j.err);
    j.err.error_exit = jpeg_fail;
    j.err.emit_message = jpeg_warn;
    const int rc = jpeg_run(&j, f, pixels);
    jpeg_destroy_decompress(&j.cinfo);
    return rc;
}

/* ---- one file ---- */

static int report(const char *path, const char *kind, const char *lib, const image *im)
{
    switch (im->why) {
    case BAD_SIZE:
        return cli_error("%s: %dx%d pixels, more than %d on a side", path, im->w, im->h,
                         MAX_SIDE);
    case BAD_CMYK:
        return cli_error("%s: a CMYK JPEG; save it as RGB or greyscale", path);
    case BAD_MEMORY:
        return cli_error("%s: cannot allocate %s", path, im->msg);
    default:
        return cli_error("%s: corrupt or truncated %s (%s: %s)", path, kind, lib, im->msg);
    }
}

/* The header (pixels 0) or the whole image of one file, the decoder chosen by its first
 * bytes (so a PNG named .jpg is still read as PNG). */
static int decode(const char *path, image *im, int pixels)
{
    memset(im, 0, sizeof *im);
    FILE *f = fopen(path, "rb");
    if (!f)
        return cli_error("cannot open %s: %s", path, strerror(errno));
    unsigned char sig[8] = {0};
    const size_t got = fread(sig, 1, sizeof sig, f);
    int rc;
    if (ferror(f))
        rc = cli_error("cannot read %s: %s", path, strerror(errno));
    else if (got == 0)
        rc = cli_error("%s: an empty file, not a PNG or JPEG image", path);
    else if (rewind(f), got == 8 && png_sig_cmp(sig, 0, 8) == 0)
        rc = png_decode(f, im, pixels) ? report(path, "PNG", "libpng", im) : 0;
    else if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
        rc = jpeg_decode(f, im, pixels) ? report(path, "JPEG", "libjpeg", im) : 0;
    else
        rc = cli_error("%s: not a PNG or JPEG image (it starts with neither signature)", path);
    fclose(f);
    if (rc) {
        free(im->px);
        im->px = NULL;
    }
    return rc;
}

/* ---- the two passes ---- */

/* Pass 1: every header; without want->image all images must share one square size. */
static int read_headers(flist *L, const char *root, const cli_data_want *want, int *colour)
{
    image im;
    const entry *f = &L->v[0];
    *colour = 0;
    for (size_t i = 0; i < L->n; i++) {
        entry *e = &L->v[i];
        if (decode(e->path, &im, 0))
            return 1;
        e->w = im.w, e->h = im.h, e->colour = im.colour;
        *colour |= im.colour;
        if (!want->image && (e->w != f->w || e->h != f->h))
            return cli_error("%s is %dx%d but %s is %dx%d: give the model's side "
                             "(--config image=N) to centre-crop and resize every image to it",
                             f->path, f->w, f->h, e->path, e->w, e->h);
    }
    if (!want->image && f->w != f->h) /* data.c's fit_all's words, width x height */
        return cli_error("%s: the images are %dx%d, not square: give the model's side "
                         "(--config image=N) to centre-crop and resize them",
                         root, f->w, f->h);
    return 0;
}

/* Interleaved pixels (nch 1..4) to sc planes (CHW), alpha composited on black:
 * out = round(v a / 255) = (v a + 127) / 255 in integers (a = 255 keeps v). A grey
 * palette, decoded as RGB, keeps its first channel. */
static void to_chw(const image *im, int sc, uint8_t *dst)
{
    const size_t plane = (size_t)im->w * im->h;
    const int nch = im->nch, alpha = nch == 2 || nch == 4;
    for (size_t p = 0; p < plane; p++) {
        const uint8_t *s = im->px + p * nch;
        const unsigned a = alpha ? s[nch - 1] : 255;
        for (int c = 0; c < sc; c++)
            dst[c * plane + p] = (uint8_t)((s[nch >= 3 ? c : 0] * a + 127) / 255);
    }
}

/* Pass 2, one image: decoded, composited, then fitted to dc x side x side at dst. */
static int read_one(const entry *e, int dc, int side, uint8_t *dst)
{
    image im;
    if (decode(e->path, &im, 1))
        return 1;
    const int sc = e->colour ? 3 : 1;
    const size_t bytes = (size_t)sc * im.w * im.h;
    uint8_t *chw = NULL;
    int rc;
    if (im.w != e->w || im.h != e->h || im.colour != e->colour)
        rc = cli_error("%s changed while the folder was read", e->path);
    else if (!(chw = malloc(bytes)))
        rc = cli_error("%s: cannot allocate %zu bytes for its planes", e->path, bytes);
    else if (to_chw(&im, sc, chw), sc == dc && im.w == side && im.h == side)
        rc = (memcpy(dst, chw, bytes), 0);
    else
        rc = cli_img_fit(chw, sc, im.h, im.w, dst, dc, side);
    free(chw);
    free(im.px);
    return rc;
}

/* Both passes: the shape from the headers, one block (images, then labels) from
 * cli_host_arena in d->mem, every image decoded into it. */
static int load(flist *L, const char *root, const cli_data_want *want, cli_data *d)
{
    int colour;
    fm_arena a;
    if (read_headers(L, root, want, &colour))
        return 1;
    const int dc = want->channels ? want->channels : colour ? 3 : 1;
    const int side = want->image ? want->image : L->v[0].w;
    const size_t n = L->n, frame = (size_t)dc * side * side;
    size_t px, need, off_px, off_lab;
    if (!fm_mul_size(n, frame, &px) || !fm_add_size(px, n + 256, &need))
        return cli_error("%s: %zu images of %dx%dx%d do not fit this address space", root, n,
                         dc, side, side);
    if (cli_host_arena(&a, need, &d->mem))
        return 1;
    if (fm_arena_alloc(&a, px, &off_px) != FM_OK || fm_arena_alloc(&a, n, &off_lab) != FM_OK)
        return cli_error("%s: the data arena is too small", root);
    uint8_t *img = fm_arena_ptr(&a, off_px), *lab = fm_arena_ptr(&a, off_lab);
    for (size_t i = 0; i < n; i++) {
        if (read_one(&L->v[i], dc, side, img + i * frame))
            return 1;
        lab[i] = (uint8_t)L->v[i].label;
    }
    d->ds = (fm_dataset){.n = (int)n, .c = dc, .h = side, .w = side, .images = img,
                         .labels = lab};
    return 0;
}

int cli_load_folder(const char *dir, const char *split, const cli_data_want *want, cli_data *d)
{
    char *root = NULL;
    int skip_splits;
    flist L = {0};
    d->names[0] = 0;
    d->num_classes = 0;
    int rc = split_root(dir, split, &root, &skip_splits);
    if (rc == 0)
        rc = gather(root, skip_splits, &L, d);
    if (rc == 0)
        rc = load(&L, root, want, d);
    flist_free(&L);
    free(root);
    if (rc) {
        cli_mem_free(&d->mem);
        memset(&d->ds, 0, sizeof d->ds);
        d->names[0] = 0;
        d->num_classes = 0;
    }
    return rc;
}
