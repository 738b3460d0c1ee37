/* Images for tests/folder.sh, written at test time (no image is committed), and a look
 * at what the data layer makes of a folder of them.
 *
 *   make_images KIND W H SEED OUT   one image of KIND, W x H, a deterministic pattern:
 *       value(x, y, c) = (SEED + 37 x + 91 y + 53 c) mod 256, alpha = (7 SEED + 29 x
 *       + 61 y) mod 256; 16-bit samples are value * 256 + (37 x mod 256) (their low byte
 *       tells libpng's scaling from a plain strip); a palette image indexes its palette
 *       by value(x, y, 0).
 *       KIND: grey grey16 ga rgb rgb16 rgba rgbi (RGB, Adam7-interlaced) palette
 *       greypal (every entry r = g = b) jpeg-grey jpeg-rgb jpeg-cmyk
 *   make_images dump DIR SPLIT IMAGE CHANNELS
 *       cli_data_open on DIR as fmrt train opens it (IMAGE, CHANNELS: the wanted side
 *       and channels, 0 for the data's own); prints "n= c= h= w= classes= names=a,b",
 *       then a line per image: its label, ':' and its bytes (CHW; their sum when more
 *       than 48). Errors are the data layer's lines, exit 1. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h> /* after stdio.h */
#include <png.h>

#include "cli_data.h"

static unsigned value(int x, int y, int c, int seed)
{
    return (unsigned)(seed + 37 * x + 91 * y + 53 * c) & 255u;
}

static unsigned alpha(int x, int y, int seed)
{
    return (unsigned)(7 * seed + 29 * x + 61 * y) & 255u;
}

typedef struct png_kind {
    const char *name;
    int type, depth, samples, interlace;
} png_kind;

static const png_kind png_kinds[] = {
    {"grey", PNG_COLOR_TYPE_GRAY, 8, 1, 0},       {"grey16", PNG_COLOR_TYPE_GRAY, 16, 1, 0},
    {"ga", PNG_COLOR_TYPE_GRAY_ALPHA, 8, 2, 0},   {"rgb", PNG_COLOR_TYPE_RGB, 8, 3, 0},
    {"rgb16", PNG_COLOR_TYPE_RGB, 16, 3, 0},      {"rgba", PNG_COLOR_TYPE_RGB_ALPHA, 8, 4, 0},
    {"rgbi", PNG_COLOR_TYPE_RGB, 8, 3, 1},        {"palette", PNG_COLOR_TYPE_PALETTE, 8, 1, 0},
    {"greypal", PNG_COLOR_TYPE_PALETTE, 8, 1, 0},
};

/* Sample s of pixel (x, y): the colour channels, then alpha where the kind has it. */
static unsigned sample(const png_kind *k, int x, int y, int s, int seed)
{
    const int has_alpha = k->type & PNG_COLOR_MASK_ALPHA;
    if (has_alpha && s == k->samples - 1)
        return k->depth == 16 ? alpha(x, y, seed) * 257u : alpha(x, y, seed);
    const unsigned v = value(x, y, s, seed);
    return k->depth == 16 ? v * 256u + (unsigned)((37 * x) & 255) : v;
}

static void palette_of(const png_kind *k, png_color *pal)
{
    for (int i = 0; i < 256; i++) {
        const int grey = strcmp(k->name, "greypal") == 0;
        pal[i].red = (png_byte)i;
        pal[i].green = (png_byte)(grey ? i : (3 * i) & 255);
        pal[i].blue = (png_byte)(grey ? i : 255 - i);
    }
}

static int write_png(const png_kind *k, int w, int h, int seed, const char *out)
{
    FILE *f = fopen(out, "wb");
    if (!f)
        return perror(out), 1;
    const size_t stride = (size_t)w * k->samples * (k->depth / 8);
    png_bytep px = malloc(stride * h);
    png_bytepp rows = malloc(sizeof *rows * h);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!px || !rows || !info || setjmp(png_jmpbuf(png))) {
        fprintf(stderr, "make_images: cannot write %s\n", out);
        exit(1); /* a test helper: the process ends here */
    }
    for (int y = 0; y < h; y++) {
        rows[y] = px + (size_t)y * stride;
        for (int x = 0; x < w; x++)
            for (int s = 0; s < k->samples; s++) {
                const unsigned v = sample(k, x, y, s, seed);
                png_bytep p = rows[y] + ((size_t)x * k->samples + s) * (k->depth / 8);
                if (k->depth == 16)
                    p[0] = (png_byte)(v >> 8), p[1] = (png_byte)v;
                else
                    p[0] = (png_byte)v;
            }
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, k->depth, k->type,
                 k->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (k->type == PNG_COLOR_TYPE_PALETTE) {
        png_color pal[256];
        palette_of(k, pal);
        png_set_PLTE(png, info, pal, 256);
    }
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(px);
    return fclose(f) != 0;
}

static int write_jpeg(const char *kind, int w, int h, int seed, const char *out)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr err;
    const int nch = strcmp(kind, "jpeg-grey") == 0 ? 1 : strcmp(kind, "jpeg-rgb") == 0 ? 3 : 4;
    FILE *f = fopen(out, "wb");
    unsigned char *row = malloc((size_t)w * nch);
    if (!f || !row)
        return perror(out), 1;
    ci.err = jpeg_std_error(&err); /* libjpeg's default: print and exit */
    jpeg_create_compress(&ci);
    jpeg_stdio_dest(&ci, f);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = nch;
    ci.in_color_space = nch == 1 ? JCS_GRAYSCALE : nch == 3 ? JCS_RGB : JCS_CMYK;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++)
            for (int c = 0; c < nch; c++)
                row[x * nch + c] = (unsigned char)value(x, y, c, seed);
        JSAMPROW r = row;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    return fclose(f) != 0;
}

static int dump(const char *dir, const char *split, int image, int channels)
{
    const cli_data_want want = {.image = image, .channels = channels};
    cli_data d;
    if (cli_data_open(dir, NULL, NULL, split, &want, &d))
        return 1;
    for (char *p = d.names; *p; p++)
        *p = *p == '\n' ? ',' : *p;
    printf("n=%d c=%d h=%d w=%d classes=%d names=%s\n", d.ds.n, d.ds.c, d.ds.h, d.ds.w,
           d.num_classes, d.names);
    const size_t frame = (size_t)d.ds.c * d.ds.h * d.ds.w;
    for (int i = 0; i < d.ds.n; i++) {
        const uint8_t *px = d.ds.images + i * frame;
        unsigned long sum = 0;
        printf("%d:", d.ds.labels[i]);
        for (size_t b = 0; b < frame; b++)
            frame <= 48 ? (void)printf(" %d", px[b]) : (void)(sum += px[b]);
        frame <= 48 ? (void)printf("\n") : (void)printf(" sum %lu\n", sum);
    }
    cli_data_close(&d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "dump") == 0)
        return dump(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
    if (argc != 6) {
        fprintf(stderr, "usage: make_images KIND W H SEED OUT | make_images dump DIR SPLIT "
                        "IMAGE CHANNELS\n");
        return 2;
    }
    const int w = atoi(argv[2]), h = atoi(argv[3]), seed = atoi(argv[4]);
    if (strncmp(argv[1], "jpeg-", 5) == 0)
        return write_jpeg(argv[1], w, h, seed, argv[5]);
    for (size_t i = 0; i < sizeof png_kinds / sizeof png_kinds[0]; i++)
        if (strcmp(argv[1], png_kinds[i].name) == 0)
            return write_png(&png_kinds[i], w, h, seed, argv[5]);
    fprintf(stderr, "make_images: unknown kind %s\n", argv[1]);
    return 2;
}
