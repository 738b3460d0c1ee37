/* The classifier's weights files: the weights format (kind 0, docs/weights-format.md)
 * holding c1.weight ... fc2.bias in canonical order under the config of the
 * "classifier" architecture. Files written before the architecture record hold a
 * U-Net config and metadata "model" = FM_MODEL_CLASSIFIER (1); both are read. */
#ifndef FMRT_CLASSIFIER_IO_H
#define FMRT_CLASSIFIER_IO_H

#include <stddef.h>

#include "classifier.h"
#include "weights.h"

/* 1 when w's architecture, or an older file's metadata, says it holds a classifier. */
int fm_weights_is_classifier(const fm_weights *w);

/* Host scratch bytes fm_classifier_save needs (a 64-aligned arena): the writer's
 * header block plus a host copy of the parameters. */
size_t fm_classifier_save_scratch(void);

/* Write c's parameters to path crash-safely (fm_weights_save). The parameters are
 * downloaded into `scratch` (restored before returning). Messages in c->be->err.
 * Absent from builds without a file system (FMRT_NO_FILES). */
fm_status fm_classifier_save(fm_model *c, const char *path, fm_arena *scratch);

/* Upload the parameters of a parsed classifier file into c: FM_ERR_FORMAT (in
 * c->be->err) when the file is not a classifier, a tensor is missing or has another
 * shape, or a value is not finite. */
fm_status fm_classifier_load(fm_model *c, const fm_weights *w);

#endif
