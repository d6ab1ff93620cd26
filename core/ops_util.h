/* Small helpers shared by the op files (core/ops_*.c); not public API. */
#ifndef EFFBENCH_CORE_OPS_UTIL_H
#define EFFBENCH_CORE_OPS_UTIL_H

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "effbench/core.h"
#include "gemm.h"
#include "internal.h"

/* OpenMP pragmas that vanish (without -Wunknown-pragmas noise) when the
 * compiler has no OpenMP. Every parallel loop in the ops writes disjoint
 * outputs, so results do not depend on the thread count. */
#ifdef _OPENMP
#define EB_OMP(x) _Pragma(x)
#else
#define EB_OMP(x)
#endif

/* Below this many elements a loop stays serial (thread start-up costs more). */
#define EB_PAR_MIN 32768

/* "[2,3,4]" into buf (at least 64 bytes). */
static inline const char *eb__shape_str(const eb_tensor *t, char *buf) {
  int n = snprintf(buf, 64, "[");
  for (int i = 0; i < t->ndim && n < 60; i++)
    n += snprintf(buf + n, (size_t)(64 - n), i ? ",%d" : "%d", t->shape[i]);
  snprintf(buf + n, (size_t)(64 - n), "]");
  return buf;
}
/* A shape string usable as a printf argument within the calling statement. */
#define EB_SHAPE(t) eb__shape_str((t), (char[64]){0})

static inline int eb__same_shape(const eb_tensor *a, const eb_tensor *b) {
  if (a->ndim != b->ndim) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return 0;
  return 1;
}

/* b's shape equals the trailing dims of a's shape (includes b == a). */
static inline int eb__is_trailing(const eb_tensor *a, const eb_tensor *b) {
  if (b->ndim > a->ndim) return 0;
  for (int i = 0; i < b->ndim; i++)
    if (b->shape[i] != a->shape[a->ndim - b->ndim + i]) return 0;
  return 1;
}

/* Gradient buffer of t when it needs one, else NULL; *fail is set when the
 * allocation failed (the arena already wrote the error). */
static inline float *eb__grad_if(eb_ctx *ctx, eb_tensor *t, int *fail) {
  if (!t || !t->requires_grad) return NULL;
  float *g = eb_tensor_grad(ctx, t);
  if (!g) *fail = 1;
  return g;
}

/* Gradient buffer of t for a backward that overwrites all of it when *fresh is
 * set on return (the buffer is new and uninitialised) and accumulates (+=)
 * otherwise; NULL when t needs no gradient. Call it just before writing, after
 * any earlier write to the same tensor in the same backward (an op may see one
 * tensor as two inputs). */
static inline float *eb__grad_acc_if(eb_ctx *ctx, eb_tensor *t, int *fresh, int *fail) {
  *fresh = 0;
  if (!t || !t->requires_grad) return NULL;
  float *g = eb__grad_acc(ctx, t, fresh);
  if (!g) *fail = 1;
  return g;
}

/* Main-memory traffic of an op, in floats (4 bytes each) read plus written,
 * each operand once (docs/flops.md, "Bytes moved"). */
static inline void eb__moved(eb_ctx *ctx, double floats) {
  eb_ctx_add_bytes(ctx, 4.0 * floats);
}

/* Row blocks for ops that reduce across rows (parameter gradients): fixed
 * blocks of EB_ROW_BLOCK rows, each giving a partial sum, the partials added
 * in block order, so the sums do not depend on the thread count. */
#define EB_ROW_BLOCK 256
static inline int64_t eb__row_blocks(int64_t rows) {
  return (rows + EB_ROW_BLOCK - 1) / EB_ROW_BLOCK;
}
/* rows [*r0, *r1) of block k */
static inline void eb__row_block(int64_t k, int64_t rows, int64_t *r0, int64_t *r1) {
  *r0 = k * EB_ROW_BLOCK;
  *r1 = *r0 + EB_ROW_BLOCK < rows ? *r0 + EB_ROW_BLOCK : rows;
}
/* g[j] += part[k * stride + j] for blocks k = 0..nb-1 in order, j < D */
static inline void eb__add_partials(float *g, const float *part, int64_t nb,
                                    int64_t stride, int D) {
  for (int64_t k = 0; k < nb; k++)
    for (int j = 0; j < D; j++)
      g[j] += part[k * stride + j];
}

/* ------------------------------------------------------------ threads ---- */
static inline int eb__nthreads(void) {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}
static inline int eb__thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* The engine parallelises GEMMs itself (OpenMP over fixed chunks of the
 * output): OpenBLAS runs single-threaded, so its thread pool never competes
 * with the OpenMP team for the cores. */
static inline void eb__blas_serial(void) {
#ifdef _OPENMP
  if (omp_in_parallel()) return; /* the caller set it before the region */
#endif
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* Row-major C[M,N] = alpha op(A) op(B) + beta C, split into chunks of rows (or
 * of columns when N > M) that depend only on the shape, run on the OpenMP
 * team: every output element is computed by one single-threaded sgemm call
 * (eb__sgemm: the backend of gemm.h) whatever the thread count. Inside a
 * parallel region it is one plain call. Counts 2*M*N*K into ctx's GEMM
 * counter once, before the split (ctx NULL: not counted, e.g. bench --peak).
 * Every op's matrix product goes through this or eb__gemm_tile. */
static inline void eb__gemm(eb_ctx *ctx, int ta, int tb, int M, int N, int K, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta,
                            float *C, int ldc) {
  eb__ctx_count_gemm(ctx, 2 * (int64_t)M * N * K, 0);
  eb__blas_serial();
  double work = 2.0 * M * N * K;
  int split_m = M >= N, D = split_m ? M : N;
  /* chunks of >= ~2 MFLOP, at most 64 of them, multiples of 16 rows, and at
   * least min(256, D/16) rows: fewer rows per call re-pack the other operand
   * more often, which oneDNN's sgemm pays for visibly below a few hundred
   * rows. So a GEMM with D <= 4096 has at most 16 chunks (16-way parallel; a
   * machine with more threads would need a 2-D split), a larger one D/256 up
   * to 64 chunks. */
  double per = work / D;
  int64_t rows = (int64_t)(2e6 / (per > 1 ? per : 1)) + 1;
  int64_t minr = (D + 63) / 64, pref = (D + 15) / 16;
  if (pref > 256) pref = 256;
  if (rows < minr) rows = minr;
  if (rows < pref) rows = pref;
  rows = (rows + 15) / 16 * 16;
  int nch = (int)((D + rows - 1) / rows);
  if (nch <= 1 || K == 0) {
    eb__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  EB_OMP("omp parallel for schedule(static,1)")
  for (int c = 0; c < nch; c++) {
    int64_t r0 = (int64_t)c * rows;
    int n = (int)(D - r0 < rows ? D - r0 : rows);
    if (split_m)
      eb__sgemm(ta, tb, n, N, K, alpha, A + (ta ? r0 : r0 * lda), lda, B, ldb, beta,
                C + r0 * ldc, ldc);
    else
      eb__sgemm(ta, tb, M, n, K, alpha, A, lda, B + (tb ? r0 * ldb : r0), ldb, beta,
                C + r0, ldc);
  }
}

/* One single-threaded GEMM call on a tile of an op's own parallel loop (the
 * caller has called eb__blas_serial before the region), counted like
 * eb__gemm: 2*M*N*K into ctx's GEMM counter, atomically. */
static inline void eb__gemm_tile(eb_ctx *ctx, int ta, int tb, int M, int N, int K,
                                 float alpha, const float *A, int lda, const float *B,
                                 int ldb, float beta, float *C, int ldc) {
  eb__ctx_count_gemm(ctx, 2 * (int64_t)M * N * K, 0);
  eb__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ------------------------------------------------------------- fast exp -- */
/* 8-float vectors (GCC/Clang vector extensions): SSE pairs in the portable
 * build, one AVX register in the functions compiled with EB_CLONES. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi" /* 32-byte vectors in non-AVX code: inlined */
#endif
typedef float eb_v8f __attribute__((vector_size(32)));
/* vector helpers are always inlined: an out-of-line copy would pass 32-byte
 * vectors across a call, whose ABI differs between SSE and AVX code */
#define EB_VINLINE static inline __attribute__((always_inline))
typedef int32_t eb_v8i __attribute__((vector_size(32)));

/* hot kernels: an AVX2 clone picked at load time, and the portable default */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&                   \
    !defined(EB_NO_CLONES)
#define EB_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define EB_CLONES
#endif

/* Kernels specialised per x86-64 level, picked by the caller from the CPU's
 * feature flags (eb__x86_level): AVX-512 (x86-64-v4) and AVX2+FMA (x86-64-v3),
 * both with FMA contraction (ISO C mode otherwise keeps a*b+c unfused). The
 * results then depend on the level, never on the thread count; a machine
 * always picks the same one. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&                   \
    !defined(EB_NO_CLONES)
#define EB_X86_LEVELS 1
#define EB_TARGET_V4                                                                     \
  __attribute__((target("arch=x86-64-v4"), optimize("fp-contract=fast")))
#define EB_TARGET_V3                                                                     \
  __attribute__((target("arch=x86-64-v3"), optimize("fp-contract=fast")))
#endif

/* memory-bound kernels: like EB_CLONES, with an AVX-512 clone as well (more
 * and wider registers for the fused elementwise passes) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&                   \
    !defined(EB_NO_CLONES)
#define EB_CLONES_MEM __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define EB_CLONES_MEM
#endif

EB_VINLINE eb_v8f eb__v8_load(const float *p) {
  eb_v8f v;
  memcpy(&v, p, sizeof v);
  return v;
}
EB_VINLINE void eb__v8_store(float *p, eb_v8f v) { memcpy(p, &v, sizeof v); }
/* a shuffle of lane 0, not the 8-element initialiser: GCC builds the latter
 * with a chain of lane inserts instead of one broadcast */
EB_VINLINE eb_v8f eb__v8_splat(float x) {
#ifdef __clang__ /* clang (the fuzzing build) has no __builtin_shuffle */
  return __builtin_shufflevector((eb_v8f){x}, (eb_v8f){x}, 0, 0, 0, 0, 0, 0, 0, 0);
#else
  return __builtin_shuffle((eb_v8f){x}, (eb_v8i){0, 0, 0, 0, 0, 0, 0, 0});
#endif
}
/* m ? a : b, m a comparison result (all ones / all zeros per lane) */
EB_VINLINE eb_v8f eb__v8_sel(eb_v8i m, eb_v8f a, eb_v8f b) {
  return (eb_v8f)((m & (eb_v8i)a) | (~m & (eb_v8i)b));
}
EB_VINLINE eb_v8f eb__v8_max(eb_v8f a, eb_v8f b) { return eb__v8_sel(a > b, a, b); }
/* lanes summed in a fixed order */
EB_VINLINE float eb__v8_hsum(eb_v8f v) {
  return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}
EB_VINLINE float eb__v8_hmax(eb_v8f v) {
  float m = v[0];
  for (int i = 1; i < 8; i++)
    m = v[i] > m ? v[i] : m;
  return m;
}

/* exp by range reduction x = n ln2 + r, |r| <= ln2/2 (n rounded with the
 * 1.5 * 2^23 trick), and Cephes' degree-6 polynomial: max relative error
 * ~2e-7 on [-87.3, 88] (relative to the exact value); 0 below -87.3 (and for -inf),
 * inputs above 88 clamp to 88, NaN stays NaN. Plain IEEE arithmetic (no FMA contraction
 * in ISO C mode), so every build and clone gives the same bits. */
/* The body is a macro so the 8-, 16-float and attention vector types share one
 * definition (the same operations in the same order: the same bits lane for
 * lane where FMA contraction is off). V/I: float/int vector types. */
#define EB_DEFINE_EXP(name, V, I, splat, sel)                                            \
  EB_VINLINE V name(V x) {                                                               \
    V xc = sel(x > 88.0f, splat(88.0f), x);                                              \
    xc = sel(xc < -87.3f, splat(-87.3f), xc);                                            \
    V t = xc * 1.44269504088896341f + 12582912.0f;                                       \
    V fn = t - 12582912.0f;                                                              \
    V r = xc - fn * 0.693359375f;                                                        \
    r = r - fn * -2.12194440e-4f;                                                        \
    V p = r * 1.9875691500e-4f + 1.3981999507e-3f;                                       \
    p = p * r + 8.3334519073e-3f;                                                        \
    p = p * r + 4.1665795894e-2f;                                                        \
    p = p * r + 1.6666665459e-1f;                                                        \
    p = p * r + 5.0000001201e-1f;                                                        \
    V y = p * (r * r) + r + 1.0f;                                                        \
    I n = (I)t - 0x4B400000;                                                             \
    y = y * (V)((n + 127) << 23);                                                        \
    return sel(x < -87.3f, splat(0.0f), y);                                              \
  }
/* tanh(x) = 1 - 2 / (exp(2x) + 1), |x| clamped at 9 (tanh(9) = 1 in float) */
#define EB_DEFINE_TANH(name, V, exp, splat, sel)                                         \
  EB_VINLINE V name(V x) {                                                               \
    V xc = sel(x > 9.0f, splat(9.0f), x);                                                \
    xc = sel(xc < -9.0f, splat(-9.0f), xc);                                              \
    return 1.0f - 2.0f / (exp(2.0f * xc) + 1.0f);                                        \
  }
EB_DEFINE_EXP(eb__exp8, eb_v8f, eb_v8i, eb__v8_splat, eb__v8_sel)

/* scalar eb__exp8 (same bits) */
EB_VINLINE float eb__expf(float x) { return eb__exp8(eb__v8_splat(x))[0]; }

EB_DEFINE_TANH(eb__tanh8, eb_v8f, eb__exp8, eb__v8_splat, eb__v8_sel)

/* 16-float vectors for the elementwise kernels compiled with EB_CLONES_MEM:
 * one AVX-512 register in the x86-64-v4 clone, two AVX or four SSE registers
 * elsewhere. eb__exp16 and eb__tanh16 are eb__exp8 and eb__tanh8 lane for lane
 * (the same operations in the same order), so both widths give the same bits. */
typedef float eb_v16f __attribute__((vector_size(64)));
typedef int32_t eb_v16i __attribute__((vector_size(64)));

EB_VINLINE eb_v16f eb__v16_load(const float *p) {
  eb_v16f v;
  memcpy(&v, p, sizeof v);
  return v;
}
EB_VINLINE void eb__v16_store(float *p, eb_v16f v) { memcpy(p, &v, sizeof v); }
EB_VINLINE eb_v16f eb__v16_splat(float x) {
#ifdef __clang__
  return __builtin_shufflevector((eb_v16f){x}, (eb_v16f){x}, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                 0, 0, 0, 0, 0, 0);
#else
  return __builtin_shuffle((eb_v16f){x}, (eb_v16i){0});
#endif
}
EB_VINLINE eb_v16f eb__v16_sel(eb_v16i m, eb_v16f a, eb_v16f b) {
  return (eb_v16f)((m & (eb_v16i)a) | (~m & (eb_v16i)b));
}
EB_DEFINE_EXP(eb__exp16, eb_v16f, eb_v16i, eb__v16_splat, eb__v16_sel)
EB_DEFINE_TANH(eb__tanh16, eb_v16f, eb__exp16, eb__v16_splat, eb__v16_sel)

/* 4-float vectors: one SSE (or NEON) register, for portable kernels that keep
 * their accumulators in registers (wider generic vectors live in memory where
 * the target has no register that wide). eb__exp4 is eb__exp8 lane for lane. */
typedef float eb_v4f __attribute__((vector_size(16)));
typedef int32_t eb_v4i __attribute__((vector_size(16)));

EB_VINLINE eb_v4f eb__v4_load(const float *p) {
  eb_v4f v;
  memcpy(&v, p, sizeof v);
  return v;
}
EB_VINLINE void eb__v4_store(float *p, eb_v4f v) { memcpy(p, &v, sizeof v); }
EB_VINLINE eb_v4f eb__v4_splat(float x) {
#ifdef __clang__
  return __builtin_shufflevector((eb_v4f){x}, (eb_v4f){x}, 0, 0, 0, 0);
#else
  return __builtin_shuffle((eb_v4f){x}, (eb_v4i){0});
#endif
}
EB_VINLINE eb_v4f eb__v4_sel(eb_v4i m, eb_v4f a, eb_v4f b) {
  return (eb_v4f)((m & (eb_v4i)a) | (~m & (eb_v4i)b));
}
EB_DEFINE_EXP(eb__exp4, eb_v4f, eb_v4i, eb__v4_splat, eb__v4_sel)

#endif
