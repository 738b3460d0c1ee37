/* The classifier's weights files: the existing weights format (kind 0,
 * docs/weights-format.md) holding c1.weight ... fc2.bias in canonical order,
 * metadata "model" = FM_MODEL_CLASSIFIER (1) to tell it from a U-Net file, and the
 * header's config left at the valid "mnist" preset (the format requires one; the
 * classifier does not use it). */
#ifndef FMRT_CLASSIFIER_IO_H
#define FMRT_CLASSIFIER_IO_H

#include <stddef.h>

#include "classifier.h"
#include "weights.h"

/* 1 when w's metadata marks it as a classifier file. */
int fm_weights_is_classifier(const fm_weights *w);

/* Host scratch bytes fm_classifier_save needs (a 64-aligned arena): the writer's
 * header block plus a host copy of the parameters. */
size_t fm_classifier_save_scratch(void);

/* Write c's parameters to path crash-safely (fm_weights_save). The parameters are
 * downloaded into `scratch` (restored before returning). Messages in c->be->err.
 * Absent from builds without a file system (FMRT_NO_FILES). */
fm_status fm_classifier_save(fm_classifier *c, const char *path, fm_arena *scratch);

/* Upload the parameters of a parsed classifier file into c: FM_ERR_FORMAT (in
 * c->be->err) when the file is not a classifier, a tensor is missing or has another
 * shape, or a value is not finite. */
fm_status fm_classifier_load(fm_classifier *c, const fm_weights *w);

#endif
