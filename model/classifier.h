/* A small MNIST classifier (the sample-quality meter of fmrt eval), built only from
 * dispatch-table calls, forward and backward:
 *
 *   x[N,1,28,28] -> c1 conv 3x3 1->16 pad 1 -> SiLU -> h1[N,16,28,28]
 *                -> c2 conv 3x3 16->32 stride 2 pad 1 -> SiLU -> h2[N,32,14,14]
 *                -> c3 conv 3x3 32->64 stride 2 pad 1 -> SiLU -> h3[N,64,7,7]
 *                -> flatten (a view: [N,3136]) -> fc1 3136->128 -> SiLU -> f[N,128]
 *                -> fc2 128->10 -> logits[N,10];  loss = SOFTMAX_XENT(logits, labels)
 *
 * f, the 128 "penultimate" features, is what a Frechet distance will use.
 * An architecture of its own ("classifier", model.h): an fm_model whose output is
 * the logits, with the parameter table, blocks and arena marks every model has. */
#ifndef FMRT_CLASSIFIER_H
#define FMRT_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define FM_CLS_NPARAMS 10 /* c1, c2, c3, fc1, fc2: weight and bias each */
#define FM_CLS_CLASSES 10
#define FM_CLS_FEATURES 128
#define FM_CLS_IMAGE 28
#define FM_CLS_MAX_BATCH 1024
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

/* Parameter count P (426122). */
int64_t fm_classifier_param_count(void);
/* Arena bytes enough for fm_classifier_create(mode, batch), its calls with up to
 * `batch` images, and one caller tensor of each shape the calls take (x, features,
 * logits) allocated after create. */
size_t fm_classifier_arena_bytes(int batch, fm_mode mode);

/* The classifier's model (fm_model_create with the "classifier" preset), zeroed;
 * batch 1..FM_CLS_MAX_BATCH. */
fm_status fm_classifier_create(fm_model *c, fm_backend *be, int batch, fm_mode mode);
/* Weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from Philox(seed), stream =
 * parameter index, counter = element (fm_model_init). */
fm_status fm_classifier_init(fm_model *c, uint64_t seed);
/* logits[N,10] (and features[N,128] unless NULL) of x[N,1,28,28] in [-1,1]. */
fm_status fm_classifier_forward(fm_model *c, const fm_tensor *x, const fm_tensor *features,
                                const fm_tensor *logits);
/* One AdamW step (step counts from 1) on x[N,1,28,28] with host labels[N] in 0..9.
 * *loss: the batch's mean cross-entropy before the update; *correct (may be NULL):
 * how many argmax logits equal the label. A non-finite loss is FM_ERR_NUMERIC and
 * leaves the parameters untouched. */
fm_status fm_classifier_train_step(fm_model *c, const fm_cls_opts *o, const fm_tensor *x,
                                   const int32_t *labels, uint64_t step, float *loss, int *correct);
/* Have the next forward of m (a classifier) copy its features [N,128] into
 * `features` (NULL: none); fm_classifier_forward's way to them. */
void fm_classifier_want_features(fm_model *m, const fm_tensor *features);
/* How many rows of host logits[n,10] have their argmax equal to labels[n]. */
int fm_classifier_count_correct(const float *logits, const int32_t *labels, int n);

#endif
