/* The cpu backend: the reference backend's memory model (tensors live in the caller's
 * host block, so a tensor's base is a host pointer) with multithreaded kernels.
 *
 *   threads   a small pthread pool started at open; its state lives in the caller's
 *             block. fm_cpu_parallel hands items [0, n) to the pool and the calling
 *             thread (tid 0), dynamically (one atomic counter), and returns when all
 *             are done. Kernels never nest parallel regions.
 *   GEMM      fm_cpu_sgemm: OpenBLAS through CBLAS when FMRT_HAVE_OPENBLAS (set to one
 *             thread: parallelism is ours, around it), else our own blocked SGEMM
 *             (gemm.c). OpenBLAS allocates its packing buffers itself, inside the
 *             OpenBLAS library: the "library never mallocs" rule covers fmrt's code.
 *   scratch   per-thread float buffers (im2col columns, Winograd tiles, partial weight
 *             gradients, attention scores) and one shared buffer (Winograd's transformed
 *             weights), carved from the caller's block at open. A kernel whose working
 *             set does not fit takes a slower path (im2col, or the reference kernel), so
 *             the scratch size changes speed, never results beyond rounding.
 *   SIMD      plain C loops written to vectorise (-O3; -march=native with
 *             FMRT_CPU_NATIVE; -fno-trapping-math so that clamps and selects do).
 *
 * Ops of FM_CPU_FROM_REF run the reference kernel (fm_ref_<op>) directly: the memory
 * model is the same, and they are a negligible share of the time. */
#ifndef FMRT_KERNELS_CPU_H
#define FMRT_KERNELS_CPU_H

#include "ref.h"

typedef void (*fm_cpu_task)(void *ctx, int64_t item, int tid);

typedef struct fm_cpu fm_cpu; /* private to pool.c */

/* The backend state of a cpu backend (be->impl). */
fm_cpu *fm_cpu_of(fm_backend *be);
int fm_cpu_threads(const fm_cpu *cpu);
/* Thread tid's scratch: fm_cpu_scratch_floats(cpu) floats, 64-byte aligned. */
float *fm_cpu_scratch(fm_cpu *cpu, int tid);
size_t fm_cpu_scratch_floats(const fm_cpu *cpu);
/* One buffer for all threads (transformed weights): fm_cpu_shared_floats(cpu) floats. */
float *fm_cpu_shared(fm_cpu *cpu);
size_t fm_cpu_shared_floats(const fm_cpu *cpu);
/* Run fn(ctx, item, tid) for every item in [0, n) on the pool; returns when done. */
void fm_cpu_parallel(fm_cpu *cpu, int64_t n, fm_cpu_task fn, void *ctx);
/* The same with item i always on thread i mod threads, in increasing order: for regions
 * that add into per-thread partials, so that a run is bit-reproducible (same inputs, same
 * thread count, same bits: training's --resume promise) whatever the timing. */
void fm_cpu_parallel_fixed(fm_cpu *cpu, int64_t n, fm_cpu_task fn, void *ctx);
/* An elementwise kernel's loop over [lo, hi): out from a, b (NULL for one input) and
 * the op's float parameters f. */
typedef void (*fm_cpu_map_fn)(float *out, const float *a, const float *b, const float *f,
                              int64_t lo, int64_t hi);
/* fn over [0, n) in chunks of FM_CPU_CHUNK floats on the pool (elementwise.c). out may
 * alias a or b when fn reads each element before writing it. */
#define FM_CPU_CHUNK 16384
void fm_cpu_map(fm_cpu *cpu, int64_t n, fm_cpu_map_fn fn, float *out, const float *a,
                const float *b, const float *f);
/* Split [0, n) into about `parts` ranges: range k of `parts` is [*lo, *hi). */
void fm_cpu_range(int64_t n, int64_t parts, int64_t k, int64_t *lo, int64_t *hi);

/* The paths the backend chooses by shape and by the size of its scratch, forceable so
 * that every one of them is tested on whatever machine runs the suite (a 2-core CI
 * machine with 1 MiB of L2 would otherwise never take some). Read once, at open, from
 * the environment variable FMRT_CPU_FORCE: a comma-separated list of
 *
 *   direct      forward stride-1 convs directly (auto: only those with Co < 8)
 *   winograd    3x3 stride-1 convs by Winograd, tile size by shape (auto, after direct)
 *   winograd2   ... always F(2x2, 3x3)          winograd4   ... always F(4x4, 3x3)
 *   im2col      every conv by im2col + GEMM (1x1 stride-1: the input itself)
 *   ref         every conv by the reference kernel (what a shape too large takes)
 *   block=N     GEMM columns per block: im2col's tile width and Winograd's values per
 *               item (auto 1024; small values force multi-tile images, row splits)
 *   bf16-portable  --precision bf16 on portable C loops (same operands and float32
 *               sums as AVX512-BF16's): the bf16 path on a CPU without the instructions
 *
 * A forced conv path applies where the shape allows it (Winograd: 3x3 stride 1; direct:
 * forward, stride 1, fits the scratch); elsewhere the automatic choice stands. Every
 * path computes the same maths within the conformance tolerances. */
typedef enum fm_cpu_conv_path {
    FM_CPU_CONV_AUTO,
    FM_CPU_CONV_DIRECT,
    FM_CPU_CONV_WINOGRAD,
    FM_CPU_CONV_WINOGRAD2,
    FM_CPU_CONV_WINOGRAD4,
    FM_CPU_CONV_IM2COL,
    FM_CPU_CONV_REF,
} fm_cpu_conv_path;

typedef struct fm_cpu_force {
    fm_cpu_conv_path conv;
    int64_t block;     /* GEMM columns per block (FM_CPU_BLOCK unless forced) */
    int bf16_portable; /* bfloat16 GEMMs by the portable loops */
} fm_cpu_force;

#define FM_CPU_BLOCK 1024
#define FM_CPU_DESC 256 /* bytes of the backend's description */
/* Parses FMRT_CPU_FORCE's value (NULL or "": nothing forced) into *f; on a bad word
 * writes a message naming it into err and returns 0. */
int fm_cpu_force_parse(const char *s, fm_cpu_force *f, char *err, size_t errlen);
/* What the backend runs with, and a description of it for the backend's line ("" when
 * nothing is forced). */
const fm_cpu_force *fm_cpu_forced(const fm_cpu *cpu);
void fm_cpu_force_describe(const fm_cpu_force *f, char *buf, size_t len);

/* Starting and stopping the state (pool.c; backend.c's open and close): the state
 * takes fm_cpu_state_bytes() of the host block; fm_cpu_start carves its buffers from
 * host within `budget` bytes (GEMM packing, shared, per-thread scratch; sizes the wish,
 * scaled down to the budget), starts nthreads - 1 workers and returns the threads
 * running (0: the pool's locks failed). fm_cpu_desc: FM_CPU_DESC bytes for the line
 * fm_backend_describe shows. */
typedef struct fm_cpu_sizes {
    size_t shared_bytes, scratch_bytes; /* wished for: shared, per thread */
    size_t pack_floats;                 /* per thread, for the GEMM (fm_cpu_gemm_pack_floats) */
} fm_cpu_sizes;
size_t fm_cpu_state_bytes(void);
int fm_cpu_resolve_threads(int threads); /* 0: the cores available; at most 64 */
int fm_cpu_start(fm_cpu *cpu, int nthreads, fm_arena *host, size_t budget,
                 const fm_cpu_sizes *sz, const fm_cpu_force *force, int bf16);
void fm_cpu_stop(fm_cpu *cpu);
char *fm_cpu_desc(fm_cpu *cpu);
/* Thread tid's GEMM packing buffer, fm_cpu_gemm_pack_floats() floats (NULL when the
 * GEMM needs none, or the block had no room: it then runs unpacked). */
float *fm_cpu_pack(fm_cpu *cpu, int tid);

/* Row-major single-threaded SGEMM on thread tid of the pool:
 *   C[M,N] = alpha op(A)[M,K] op(B)[K,N] + beta C,   op(X) = X or X^T (ta, tb)
 * lda/ldb/ldc are the row strides of A, B, C as stored. beta 0 ignores C's contents.
 * Our own GEMM packs into fm_cpu_pack(cpu, tid); OpenBLAS packs into its own buffers. */
void fm_cpu_sgemm(fm_cpu *cpu, int tid, int ta, int tb, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                  float beta, float *C, int64_t ldc);
/* Floats of packing buffer our own GEMM needs per thread (0 with OpenBLAS). */
size_t fm_cpu_gemm_pack_floats(void);
/* The same GEMM split over the pool (blocks of rows of C, or of columns when M is small). */
void fm_cpu_sgemm_par(fm_cpu *cpu, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                      float *C, int64_t ldc);
/* C[M,N] = op(A)[M,K] B[K,N] (accumulate 0) or C += op(A) B (1), row-major, op(A) = A or
 * A^T (ta), without packing: a register-tile kernel for the small GEMMs inside the
 * convolutions (gemm_small.c). */
void fm_cpu_sgemm_small(fm_cpu *cpu, int tid, int ta, int64_t M, int64_t N, int64_t K,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float *C,
                        int64_t ldc, int accumulate);
/* bfloat16 GEMMs (FM_BACKEND_BF16; gemm_bf16.c): whether this build has AVX512-BF16
 * kernels, whether a GEMM of depth K fits them (K even), and C[M,N] = A[M,K] B[K,N] with
 * A bfloat16 row-major, B bfloat16 pair-packed (element (k, j) at Bp[(k/2) ldp + 2 j +
 * k % 2], readable up to the next multiple of 16 columns), products summed in float32;
 * fm_cpu_bf16_pack writes such a Bp from float rows, ldp = 2 ceil(N/16) 16, zero
 * padded. Both run the AVX512-BF16 kernels where the build has them, else (or with
 * bf16-portable forced) portable loops. fm_cpu_bf16: the backend was opened with
 * FM_BACKEND_BF16 and runs a bfloat16 path (native, or forced portable). */
int fm_cpu_bf16_native(void);
/* The bfloat16 GEMM that runs under f: "AVX512-BF16", "portable C" (bf16-portable
 * forced), or NULL (none: --precision bf16 runs float32). */
const char *fm_cpu_bf16_kernel(const fm_cpu_force *f);
int fm_cpu_sbgemm_fits(int64_t K);
void fm_cpu_sbgemm_small(const fm_cpu *cpu, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                         int64_t lda, const uint16_t *Bp, int64_t ldp, float *C, int64_t ldc);
void fm_cpu_bf16_pack(const fm_cpu *cpu, uint16_t *Bp, const float *B, int64_t ldb, int64_t K,
                      int64_t N);
int fm_cpu_bf16(const fm_cpu *cpu);
/* Once per process: OpenBLAS to one thread (no-op for our own GEMM). */
void fm_cpu_gemm_init(void);
const char *fm_cpu_gemm_name(void);

/* A forward conv's epilogue terms (CONV2D_FWD): out[n,o,.] += b[o] + bn[n,o] + res[n,o,.],
 * each NULL when absent. */
typedef struct fm_cpu_adds {
    const float *b, *bn, *res;
} fm_cpu_adds;

/* 3x3 stride-1 conv by Winograd F(4x4, 3x3) or F(2x2, 3x3), whichever needs fewer
 * multiply-adds for Ho x Wo (winograd.c): out[N,Co,Ho,Wo] from
 * in[N,Ci,H,W], padding `pad`, plus the epilogue terms e; flip = 0: w[Co,Ci,3,3]
 * (forward), flip = 1: w[Ci,Co,3,3] used rotated and transposed (the input gradient).
 * 0 when it does not fit the scratch. */
int fm_cpu_winograd3x3(fm_cpu *cpu, float *out, const float *in, const float *w, fm_cpu_adds e,
                       int64_t N, int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t Ho,
                       int64_t Wo, int64_t pad, int flip);

/* dw[Co,Ci,3,3] += the weight gradient of that conv (stride 1, padding `pad`) from
 * in[N,Ci,H,W] and dout[N,Co,Ho,Wo], by Winograd F(2x2, 3x3) too. 0 when it does not
 * fit. */
int fm_cpu_winograd3x3_dw(fm_cpu *cpu, float *dw, const float *in, const float *dout, int64_t N,
                          int64_t Ci, int64_t H, int64_t W, int64_t Co, int64_t Ho, int64_t Wo,
                          int64_t pad);

/* dst[j ldd + i] = src[i lds + j] + bias[j] + res[j ldd + i] (bias, res NULL: 0) for
 * i < rows, j < cols: a transpose by register blocks (transpose.c); res is laid out as
 * dst. */
void fm_cpu_transpose_add(float *dst, int64_t ldd, const float *src, int64_t lds, int64_t rows,
                          int64_t cols, const float *bias, const float *res);

/* sum_i (a[i] - ma) (b[i] - mb) over n floats (b NULL: sum_i (a[i] - ma)), in double:
 * float lanes over short blocks (vectorisable), each block added to a double (the error
 * stays that of a block of <= 256 terms). */
double fm_cpu_dot(const float *a, float ma, const float *b, float mb, int64_t n);
static inline double fm_cpu_sum(const float *x, int64_t n)
{
    return fm_cpu_dot(x, 0.0f, NULL, 0.0f, n);
}

/* The table entry fm_cpu_<op> of every op in FM_OP_LIST: most have their own file;
 * the ops of FM_CPU_FROM_REF run the reference kernel as is (same host memory
 * model), defined in from_ref.c. They are small or rare: time embedding, embedding,
 * the losses (mse, softmax cross-entropy), interpolation, sums, the backward of
 * add/axpby, quantize and rng -- well under a percent of a step (fmrt bench's per-op
 * table) -- and the DiT's data movement (gated residual, transpose, unpatchify: one
 * pass over memory each, next to the GEMMs around them), and the autoencoder's posterior
 * (one pass over a latent 8x smaller per image than the image). */
/* clang-format off */
#define FM_CPU_FROM_REF(X)                                                                         \
    X(add_bwd) X(axpby_bwd) X(timeemb_fwd) X(timeemb_bwd) X(embed_fwd) X(embed_bwd)                \
    X(softmax_xent_fwd) X(softmax_xent_bwd) X(mse_fwd) X(mse_bwd) X(fm_interp_fwd)                 \
    X(fm_interp_bwd) X(sum_fwd) X(sum_bwd) X(quantize_u8) X(rng) X(gated_add_fwd)                \
    X(gated_add_bwd) X(unpatchify_fwd) X(unpatchify_bwd) X(reparam_fwd) X(reparam_bwd)
/* clang-format on */

#define FM_X(id, name, slots) fm_status fm_cpu_##name(fm_backend *be, const fm_call *c);
FM_OP_LIST(FM_X)
#undef FM_X

#endif
