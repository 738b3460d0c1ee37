/* fmrt: a portable C runtime that trains and samples flow-matching image models.
 * The one header a user of the library includes.
 *
 *   runtime     arena.h (fixed memory), tensor.h, status.h, ops.h (the op table and
 *               fm_call), backend.h (open a backend, allocate, move bytes, fm_run),
 *               philox.h (the counter-based RNG shared with the kernels)
 *   model       config.h (fields), model.h (the model on a backend, its architectures
 *               and presets, the arena planner), flow.h (training step, samplers),
 *               classifier.h (the MNIST classifier of fmrt eval)
 *   weights     weights.h (the .fmw format), checkpoint.h (weights and training
 *               state in and out of files)
 *   sampler.h   a weights file to images in a handful of calls (start here)
 *
 * Writing a backend takes backend_impl.h as well; the conformance harness is
 * conformance.h / conformance_model.h; files, IDX data and PNG are file.h, idx.h
 * (io.h includes both) / image.h. */
#ifndef FMRT_H
#define FMRT_H

#include "arena.h"
#include "backend.h"
#include "ops.h"
#include "philox.h"
#include "status.h"
#include "tensor.h"

#include "classifier.h"
#include "config.h"
#include "flow.h"
#include "model.h"

#include "checkpoint.h"
#include "sampler.h"
#include "weights.h"

#define FMRT_VERSION "0.1.0"

#endif
