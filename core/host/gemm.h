/* The engine's single-threaded sgemm and the backend behind it. Host API
 * (core/host/: not the plugin ABI, never installed): the harness reads the
 * choice for bench output and speed rows, and times eb_gemm_threaded.
 *
 * The backend is chosen once, at the first call, from the CPU's feature flags
 * (never from a table of model numbers): oneDNN's JIT sgemm (it generates code
 * for the ISA it detects: AVX-512, AVX2+FMA, ...) where effbench was built with
 * oneDNN and the CPU has AVX2 and FMA, else OpenBLAS. A start-up self-check
 * compares the chosen kernel with a double-precision reference on awkward
 * shapes (every transpose, odd sizes, padded leading dimensions, beta 0 and
 * 1); a kernel that disagrees is dropped for OpenBLAS and the reason kept in
 * `warning`. EFFBENCH_GEMM=auto|onednn|openblas overrides the choice (the
 * self-check still runs). OPENBLAS_CORETYPE only affects OpenBLAS itself. */
#ifndef EFFBENCH_CORE_GEMM_H
#define EFFBENCH_CORE_GEMM_H

#include <stddef.h>

typedef struct eb_gemm_info {
  const char *backend; /* "onednn" or "openblas" */
  const char *isa; /* the kernel's instruction set, e.g. "avx512_core_bf16", "Haswell" */
  const char *cpu; /* the CPU's relevant feature flags, e.g. "avx512f,avx512bw,...,fma" */
  const char *warning; /* why the preferred backend was not used, or "" */
} eb_gemm_info;

/* Chooses and self-checks the backend on first use (thread-safe). */
const eb_gemm_info *eb_gemm_info_get(void);

/* Row-major C[M,N] = alpha op(A) op(B) + beta C on the calling thread only
 * (the engine splits GEMMs over its threads itself: eb__gemm in ops_util.h).
 * The same shapes give the same bits on every call. */
void eb__sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);

/* Row-major C[M,N] = A[M,K] B[K,N] the way the engine runs its GEMMs: split
 * over the OpenMP threads by eb__gemm (core/ops_util.h), one backend call per
 * chunk; counted nowhere. What `effbench bench --peak` times. */
void eb_gemm_threaded(int M, int N, int K, const float *A, const float *B, float *C);

/* A single-threaded row-major sgemm kernel: 0 on success, -2 when it ran
 * out of memory, another nonzero value on any other failure. */
typedef int (*eb__sgemm_fn)(int ta, int tb, int M, int N, int K, float alpha,
                            const float *A, int lda, const float *B, int ldb, float beta,
                            float *C, int ldc);

/* The start-up self-check of a kernel (exposed for tests): 0 when it agrees
 * with the double-precision reference on every case, else -1 with the first
 * disagreement described in msg; -2 when it could not run (out of memory). */
int eb__gemm_self_check(eb__sgemm_fn fn, char *msg, size_t cap);

#endif
