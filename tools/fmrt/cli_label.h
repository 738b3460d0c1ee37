/* Text in the tool's PNG grids: a class's name beside its row (label.c). */
#ifndef FMRT_CLI_LABEL_H
#define FMRT_CLI_LABEL_H

#include <stdint.h>

/* Pixels of text's width as cli_label_draw draws it; its height is 8 rows. */
#define CLI_LABEL_HEIGHT 8
int cli_label_width(const char *text);
/* text in white into img (w x h pixels of `channels` interleaved bytes), its top-left
 * corner at (x, y); clipped to the image. */
void cli_label_draw(uint8_t *img, int w, int h, int channels, int x, int y, const char *text);

#endif
