/* Colour MNIST's palette and its (colour, digit) pairs (colour_mnist.c), shared by
 * fmrt data colour-mnist (--hold-out) and fmrt eval --prompts (eval.c). */
#ifndef FMRT_CLI_COLOUR_H
#define FMRT_CLI_COLOUR_H

#include <stddef.h>
#include <stdint.h>

#define CLI_NCOLOURS 8
#define CLI_NPAIRS (CLI_NCOLOURS * 10) /* pair 10 k + digit, as the set's labels */

typedef struct cli_colour {
    const char *name;
    uint8_t rgb[3];
} cli_colour;

/* red green blue yellow magenta cyan orange white (docs/data-pack.md, "Colour MNIST"). */
extern const cli_colour cli_colours[CLI_NCOLOURS];

/* The colour called s[0..n) (ASCII case ignored), or -1. */
int cli_colour_find(const char *s, size_t n);

/* "red, green, ..., white" into buf: for messages. */
const char *cli_colour_list(char *buf, size_t len);

/* A list "red 7,green 2" (pairs separated by ',', each a colour and a digit separated
 * by white space; case and white space around them ignored) into held[10 k + digit]
 * = 1 (held[] is not cleared: a repeated flag adds to it). One error line naming flag
 * and the bad pair (an unknown colour, a digit outside 0..9, an empty pair); returns
 * 1 then, else 0. */
int cli_colour_pairs(const char *flag, const char *list, uint8_t held[CLI_NPAIRS]);

/* held[] as "red 7,green 2" (in pair order; sep between pairs) into buf; "" when none. */
const char *cli_colour_pairs_text(const uint8_t held[CLI_NPAIRS], const char *sep, char *buf,
                                  size_t len);

#endif
