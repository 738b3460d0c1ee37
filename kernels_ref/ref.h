/* The reference backend: plain C, single-threaded, readable over fast. It is the
 * oracle every other backend is checked against. One op per file; each file holds
 * the maths on raw pointers and the table entry fm_ref_<op> that unwraps a call. */
#ifndef FMRT_KERNELS_REF_H
#define FMRT_KERNELS_REF_H

#include <math.h>

#include "backend_impl.h"

/* SiLU of one value, x / (1 + e^-x): SILU_FWD and GROUPNORM_FWD's SiLU post-op both
 * use it, so that the fused op gives the unfused pair's bits. */
static inline float fm_ref_silu(float x) { return x / (1.0f + expf(-x)); }

/* Memory movement of host-memory backends (ref and cpu share them). */
fm_status fm_ref_host_upload(fm_backend *be, const fm_tensor *dst, const void *src);
fm_status fm_ref_host_download(fm_backend *be, void *dst, const fm_tensor *src);
fm_status fm_ref_host_copy(fm_backend *be, const fm_tensor *dst, const fm_tensor *src);
fm_status fm_ref_host_fill(fm_backend *be, const fm_tensor *dst, float value);
fm_status fm_ref_host_sync(fm_backend *be);

#define FM_X(id, name, slots) fm_status fm_ref_##name(fm_backend *be, const fm_call *c);
FM_OP_LIST(FM_X)
#undef FM_X

#endif
