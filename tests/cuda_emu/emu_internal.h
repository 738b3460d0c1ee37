/* cuda-emu internals shared by engine.cpp (launches) and runtime.cpp (the runtime
 * API and cuBLAS). */
#ifndef FMRT_CUDA_EMU_INTERNAL_H
#define FMRT_CUDA_EMU_INTERNAL_H

#include "cuda_runtime.h"

namespace fm_emu {
/* The error cudaGetLastError returns next (then resets to the sticky one), and the
 * sticky error of a failed launch, which every later call returns, as a device
 * context that a kernel fault has poisoned. */
extern thread_local cudaError_t last_error;
extern cudaError_t sticky_error;
/* Records e (unless cudaSuccess) as the last error; returns e. */
cudaError_t set_error(cudaError_t e);
/* [p, p + bytes) lies inside one device allocation. */
bool on_device(const void *p, size_t bytes);
} // namespace fm_emu

#endif
