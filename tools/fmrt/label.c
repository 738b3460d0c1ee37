/* Class names beside the rows of a grid (cli_preview.h, cli_write_grid): text drawn
 * with stb_easy_font (Debian's libstb-dev), whose glyphs are axis-aligned quads of
 * whole pixels at scale 1 (about 7 pixels tall), so filling each quad's rectangle
 * rasterises the text exactly. ASCII only: other bytes are drawn as '?'. */
#include "cli_label.h"

#include <math.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wconversion"
#include <stb_easy_font.h>
#pragma GCC diagnostic pop

#define MAX_TEXT 64 /* class names are shorter (FM_CLASS_NAME_MAX) */

/* text as stb_easy_font may index it (bytes 32..126), cut at MAX_TEXT - 1. */
static void ascii(char *dst, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < MAX_TEXT; i++)
        dst[i] = (unsigned char)src[i] >= 32 && (unsigned char)src[i] < 127 ? src[i] : '?';
    dst[i] = 0;
}

int cli_label_width(const char *text)
{
    char t[MAX_TEXT];
    ascii(t, text);
    return stb_easy_font_width(t);
}

void cli_label_draw(uint8_t *img, int w, int h, int channels, int x, int y, const char *text)
{
    char t[MAX_TEXT];
    /* ~270 bytes of vertices a character (stb_easy_font.h): 64 per quad. */
    float quads[MAX_TEXT * 300 / sizeof(float)];
    ascii(t, text);
    const int n = stb_easy_font_print((float)x, (float)y, t, NULL, quads, sizeof quads);
    for (int q = 0; q < n; q++) {
        const float *v = quads + q * 16; /* 4 vertices of x, y, z, colour */
        int x0 = (int)lroundf(v[0]), y0 = (int)lroundf(v[1]);
        int x1 = (int)lroundf(v[8]), y1 = (int)lroundf(v[9]); /* the opposite corner */
        for (int yy = y0 < 0 ? 0 : y0; yy < y1 && yy < h; yy++)
            for (int xx = x0 < 0 ? 0 : x0; xx < x1 && xx < w; xx++)
                memset(img + ((size_t)yy * w + xx) * channels, 255, (size_t)channels);
    }
}
