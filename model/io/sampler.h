/* The library in a handful of calls: open a weights file on a backend and draw images
 * as bytes, the way diffusers' pipelines or llama.cpp's examples are used.
 *
 *   static fm_sampler s;                        (large: the model's tables live in it)
 *   fm_sampler_config c = {.weights = "model/tiny-cond.fmw"};
 *   size_t bytes;
 *   fm_sampler_bytes(&s, &c, &bytes);           how much host memory, for this file
 *   void *mem = aligned_alloc(64, bytes);       (the library never allocates)
 *   fm_sampler_open(&s, &c, mem, bytes);        file read, checked, on the backend
 *   fm_sampler_run(&s, &(fm_sample_request){.n = 10, .labels = digits}, pixels);
 *   fm_sampler_close(&s);  free(mem);
 *
 * The caller hands one host block, sized by fm_sampler_bytes: the file image, then
 * the backend's host share (ref and cpu: the whole tensor arena; opencl and cuda take
 * one device allocation of the planned size and keep small state here). Every
 * function returns a status and leaves a one-line message in s->err on failure.
 * fm_sampler_run draws what `fmrt sample WEIGHTS --n N --seed S [--classes ...]
 * --raw-out F` writes, byte for byte on the same backend (examples/sample_digits.c,
 * ctest example_sample_digits). */
#ifndef FMRT_SAMPLER_H
#define FMRT_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "model.h"
#include "weights.h"

typedef struct fm_sampler_config {
    const char *weights; /* a weights or checkpoint file (.fmw) of a velocity model */
    const char *backend; /* "auto" (NULL), "ref", "cpu", "opencl", "cuda" */
    int batch;           /* the most images one fm_sampler_run draws (0: 16; <= 1024) */
    int threads;         /* the cpu backend's threads (0: the cores available) */
} fm_sampler_config;

typedef struct fm_sample_request {
    int n;                 /* images, 1..batch */
    int steps;             /* integration steps (0: 50) */
    int heun;              /* 0: Euler, 1: Heun */
    uint64_t seed;         /* the noise: Philox(seed), stream 0 */
    const int32_t *labels; /* n class labels of a conditional model, or NULL */
    float guidance;        /* classifier-free guidance scale with labels (0: 2.0) */
} fm_sample_request;

typedef struct fm_sampler {
    fm_backend be;
    fm_model model;
    fm_weights w;
    fm_config cfg;
    size_t file_bytes, arena_bytes, host_bytes;
    int batch, open;
    char err[FM_ERR_LEN];
} fm_sampler;

/* Host bytes fm_sampler_open needs for c (the file's header gives its config; the
 * planner, run with s as scratch, the arena). */
fm_status fm_sampler_bytes(fm_sampler *s, const fm_sampler_config *c, size_t *bytes);
/* Read and check the file into mem (64-byte aligned, bytes from fm_sampler_bytes),
 * open the backend, put the EMA weights on it. */
fm_status fm_sampler_open(fm_sampler *s, const fm_sampler_config *c, void *mem, size_t bytes);
/* r->n images into pixels (n x C x H x W bytes, 0..255). */
fm_status fm_sampler_run(fm_sampler *s, const fm_sample_request *r, uint8_t *pixels);
/* The image shape of the open model: channels, height = width. */
void fm_sampler_shape(const fm_sampler *s, int *channels, int *size);
void fm_sampler_close(fm_sampler *s);

#endif
