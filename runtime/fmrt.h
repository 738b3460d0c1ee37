/* fmrt: a portable C runtime that trains and samples a flow-matching U-Net.
 * The one header a user includes. */
#ifndef FMRT_H
#define FMRT_H

#include "arena.h"
#include "backend.h"
#include "ops.h"
#include "philox.h"
#include "status.h"
#include "tensor.h"

#define FMRT_VERSION "0.1.0"

#endif
