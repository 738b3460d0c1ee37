/* The classifier's weights files: the weights format (kind 0, docs/weights-format.md)
 * holding c1.weight ... fc2.bias in canonical order under the config of the
 * "classifier" architecture (in_channels, image, num_classes), and optionally the
 * run's record as u8 tensors (checkpoint.h's text.data: the training data's absolute
 * path; text.classes: the K class names). Files written before the architecture
 * record hold a U-Net config and metadata "model" = FM_MODEL_CLASSIFIER (1): they are
 * the preset (1x28x28 digits, 10 classes); both are read. */
#ifndef FMRT_CLASSIFIER_IO_H
#define FMRT_CLASSIFIER_IO_H

#include <stddef.h>

#include "checkpoint.h"
#include "classifier.h"
#include "weights.h"

/* 1 when w's architecture, or an older file's metadata, says it holds a classifier. */
int fm_weights_is_classifier(const fm_weights *w);

/* The config the classifier file w describes: its own (validated), or the preset for
 * a file from before the architecture record. FM_ERR_FORMAT (message in err) when w is
 * not a classifier or its config is out of the classifier's ranges. */
fm_status fm_classifier_file_config(const fm_weights *w, fm_config *cfg, char *err, size_t errlen);

/* The run's record of w (pointing into w's image; n = 0 where absent): the training
 * data and the class names, checked by checkpoint.h's rules (K names, each valid).
 * FM_ERR_FORMAT with the message in err otherwise. */
fm_status fm_classifier_texts(const fm_weights *w, fm_text *data, fm_text *classes, char *err,
                              size_t errlen);

/* Host scratch bytes fm_classifier_save needs for a classifier of cfg (NULL: the
 * preset; a 64-aligned arena): the writer's header block plus a host copy of the
 * parameters. */
size_t fm_classifier_save_scratch(const fm_config *cfg);

/* Write c's parameters, its config and the record (data, classes: NULL or n = 0 for
 * none) to path crash-safely (fm_weights_save). The parameters are downloaded into
 * `scratch` (restored before returning). Messages in c->be->err. Absent from builds
 * without a file system (FMRT_NO_FILES). */
fm_status fm_classifier_save(fm_model *c, const char *path, const fm_text *data,
                             const fm_text *classes, fm_arena *scratch);

/* Upload the parameters of a parsed classifier file into c: FM_ERR_FORMAT (in
 * c->be->err) when the file is not a classifier, describes another shape than c's
 * config (both named), a tensor is missing, unknown or of another shape, or a value
 * is not finite. */
fm_status fm_classifier_load(fm_model *c, const fm_weights *w);

#endif
