/* A small image classifier (the sample-quality meter of fmrt eval), built only from
 * dispatch-table calls, forward and backward. Its shape comes from its config:
 * C = in_channels (1 or 3), S = image (8..256, a multiple of 4), K classes
 * (fm_classifier_classes: num_classes, 2..256):
 *
 *   x[N,C,S,S] -> c1 conv 3x3 C->16 pad 1 -> SiLU -> h1[N,16,S,S]
 *              -> c2 conv 3x3 16->32 stride 2 pad 1 -> SiLU -> h2[N,32,S/2,S/2]
 *              -> c3 conv 3x3 32->64 stride 2 pad 1 -> SiLU -> h3[N,64,S/4,S/4]
 *              -> flatten (a view: [N,64 (S/4)^2]) -> fc1 64 (S/4)^2->128 -> SiLU -> f[N,128]
 *              -> fc2 128->K -> logits[N,K];  loss = SOFTMAX_XENT(logits, labels)
 *
 * Parameters: 16 (9 C + 1) + 32 (9 16 + 1) + 64 (9 32 + 1) + 128 (64 (S/4)^2 + 1)
 * + K (128 + 1); the shipped MNIST classifier (C 1, S 28, K 10: 3136 into fc1, the
 * "classifier" preset) has 426,122, a 32x32 RGB one with K 10 549,290.
 *
 * f, the 128 "penultimate" features, is what a Frechet distance uses: 128 wide for
 * every shape, so statistics files of any classifier have one format (their CRC says
 * whose features they hold). An architecture of its own ("classifier", model.h): an
 * fm_model whose output is the logits, with the parameter table, blocks and arena
 * marks every model has. */
#ifndef FMRT_CLASSIFIER_H
#define FMRT_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define FM_CLS_NPARAMS 10 /* c1, c2, c3, fc1, fc2: weight and bias each */
#define FM_CLS_FEATURES 128
#define FM_CLS_MAX_CLASSES 256 /* labels (and eval's predicted classes) are one byte */
#define FM_CLS_MIN_IMAGE 8
#define FM_CLS_MAX_IMAGE 256
#define FM_CLS_MAX_BATCH 1024
/* The "classifier" preset: the shipped MNIST classifier's 1x28x28 digits, and the K
 * of a file whose config says num_classes 0 (every file before K was recorded). */
#define FM_CLS_DEFAULT_IMAGE 28
#define FM_CLS_DEFAULT_CLASSES 10
/* Older classifier files (before the architecture record) say so in their metadata:
 * key "model" = 1, with a U-Net config in the header. */
#define FM_MODEL_KEY "model"
#define FM_MODEL_CLASSIFIER 1

/* AdamW hyper-parameters of a training step. */
typedef struct fm_cls_opts {
    float lr, beta1, beta2, eps, weight_decay;
} fm_cls_opts;

/* lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0. */
fm_cls_opts fm_cls_defaults(void);

/* K, the classifier's output classes: cfg->num_classes, where 0 (the preset, and every
 * file written before classifiers recorded K: all of them MNIST digit classifiers)
 * means FM_CLS_DEFAULT_CLASSES. The one place that rule lives. */
int fm_classifier_classes(const fm_config *cfg);
/* The config of a classifier of `channels` x image x image inputs and `classes`
 * outputs, validated (FM_ERR_ARG, the message naming the field, when out of range). */
fm_status fm_classifier_config(fm_config *cfg, int channels, int image, int classes, char *msg,
                               size_t len);

/* In the functions below a NULL cfg is the "classifier" preset (1x28x28, 10 classes). */

/* Parameter count P (above; 426122 for the preset). */
int64_t fm_classifier_param_count(const fm_config *cfg);
/* Arena bytes enough for fm_classifier_create(cfg, batch, mode), its calls with up to
 * `batch` images, and one caller tensor of each shape the calls take (x, features,
 * logits) allocated after create. */
size_t fm_classifier_arena_bytes(const fm_config *cfg, int batch, fm_mode mode);

/* The classifier's model (fm_model_create with cfg, a classifier config), zeroed;
 * batch 1..FM_CLS_MAX_BATCH. */
fm_status fm_classifier_create(fm_model *c, fm_backend *be, const fm_config *cfg, int batch,
                               fm_mode mode);
/* Weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from Philox(seed), stream =
 * parameter index, counter = element (fm_model_init). */
fm_status fm_classifier_init(fm_model *c, uint64_t seed);
/* logits[N,K] (and features[N,128] unless NULL) of x[N,C,S,S] in [-1,1]. */
fm_status fm_classifier_forward(fm_model *c, const fm_tensor *x, const fm_tensor *features,
                                const fm_tensor *logits);
/* One AdamW step (step counts from 1) on x[N,C,S,S] with host labels[N] in 0..K-1.
 * *loss: the batch's mean cross-entropy before the update; *correct (may be NULL):
 * how many argmax logits equal the label. A non-finite loss is FM_ERR_NUMERIC and
 * leaves the parameters untouched. */
fm_status fm_classifier_train_step(fm_model *c, const fm_cls_opts *o, const fm_tensor *x,
                                   const int32_t *labels, uint64_t step, float *loss, int *correct);
/* Have the next forward of m (a classifier) copy its features [N,128] into
 * `features` (NULL: none); fm_classifier_forward's way to them. */
void fm_classifier_want_features(fm_model *m, const fm_tensor *features);
/* How many rows of host logits[n,K] have their argmax (the first of equal maxima)
 * equal to labels[n]. */
int fm_classifier_count_correct(const float *logits, const int32_t *labels, int n, int K);

#endif
