/* The GEMM backend: chosen by CPU feature flags, self-checked, then fixed for
 * the process (see gemm.h). */
#include "gemm.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdarg.h>
/* oneDNN only with OpenMP: its calls are kept single-threaded through OpenMP
 * (see onednn_call); without it oneDNN would thread and split K by itself */
#if defined(EB_HAVE_ONEDNN) && defined(_OPENMP)
#define EB_USE_ONEDNN 1
#include <oneapi/dnnl/dnnl.h>
#include <signal.h>
#include <unistd.h>
#endif

typedef enum { GEMM_OPENBLAS, GEMM_ONEDNN } gemm_backend;

static gemm_backend g_backend = GEMM_OPENBLAS;
static char g_isa[48], g_cpu[128], g_warning[256];
static eb_gemm_info g_info;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void openblas_call(int ta, int tb, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta,
                          float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
              tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
}

#ifdef EB_USE_ONEDNN
/* One oneDNN call on this thread alone. oneDNN threads a call with OpenMP
 * (and may then split K, which would make the bits depend on the thread
 * count); inside a parallel region it runs serially, outside one it follows
 * the thread count, which is set to 1 for the call. */
static int onednn_call(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  int saved = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (saved != 1) omp_set_num_threads(1);
  dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B,
                                ldb, beta, C, ldc);
  if (saved != 1) omp_set_num_threads(saved);
  return st == dnnl_success ? 0 : st == dnnl_out_of_memory ? -2 : -1;
}

static void onednn_abort(int sig) {
  (void)sig;
  static const char msg[] =
      "effbench: oneDNN aborted while building its GEMM kernels (the self-check of "
      "the process's first GEMM; most often out of memory; its own message is "
      "above): exiting\n";
  ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)w;
  _exit(1);
}

static const char *onednn_isa_name(dnnl_cpu_isa_t isa) {
  switch (isa) {
  case dnnl_cpu_isa_sse41: return "sse41";
  case dnnl_cpu_isa_avx: return "avx";
  case dnnl_cpu_isa_avx2: return "avx2";
  case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
  case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
  case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
  case dnnl_cpu_isa_avx512_core: return "avx512_core";
  case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
  case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
  case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
  default: return "unknown";
  }
}
#endif

static int openblas_fn(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  openblas_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return 0;
}

/* Self-check: every transpose pair, beta 0 and 1, odd sizes and padded leading
 * dimensions (sizes that cross a kernel's register and cache blocks and leave
 * remainders), against a double-precision reference. The error bound is a
 * multiple of float rounding over the sum of |a_k b_k|, far below what a wrong
 * kernel gives and far above what summation order gives. Returns 0 when the
 * kernel agrees, else -1 with the first disagreement in msg. */
int eb__gemm_self_check(eb__sgemm_fn fn, char *msg, size_t cap) {
  static const int shapes[][3] = {{67, 45, 131}, {1, 33, 17},   {130, 1, 64},
                                  {96, 80, 7},   {17, 260, 40}, {5, 5, 1}};
  int rc = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !rc; s++) {
    const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    for (int t = 0; t < 8 && !rc; t++) {
      const int ta = t & 1, tb = (t >> 1) & 1, acc = (t >> 2) & 1;
      const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
      const int arows = ta ? K : M, brows = tb ? N : K;
      float *A = malloc(sizeof(float) * (size_t)arows * lda);
      float *B = malloc(sizeof(float) * (size_t)brows * ldb);
      float *C = malloc(sizeof(float) * (size_t)M * ldc);
      double *R = malloc(sizeof(double) * (size_t)M * N * 2);
      if (!A || !B || !C || !R) {
        snprintf(msg, cap, "out of memory in the GEMM self-check");
        rc = -2;
      } else {
        uint32_t x = 12345u + (uint32_t)(s * 8 + t);
#define EB_NEXT                                                                          \
  (x = x * 1664525u + 1013904223u, (float)((x >> 8) & 0xffff) / 32768.0f - 1.0f)
        for (int i = 0; i < arows * lda; i++)
          A[i] = EB_NEXT;
        for (int i = 0; i < brows * ldb; i++)
          B[i] = EB_NEXT;
        for (int i = 0; i < M * ldc; i++)
          C[i] = EB_NEXT;
#undef EB_NEXT
        const float alpha = 0.75f, beta = acc ? 1.0f : 0.0f;
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) {
            double r = 0, mag = 0;
            for (int k = 0; k < K; k++) {
              double a = ta ? A[k * lda + i] : A[i * lda + k];
              double b = tb ? B[j * ldb + k] : B[k * ldb + j];
              r += a * b;
              mag += fabs(a * b);
            }
            r *= alpha;
            if (acc) r += C[i * ldc + j];
            R[2 * (i * N + j)] = r;
            R[2 * (i * N + j) + 1] = fabs(alpha) * mag + (acc ? fabs(C[i * ldc + j]) : 0);
          }
        const int frc = fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        if (frc == -2) { /* the kernel ran out of memory: nothing checked */
          snprintf(msg, cap, "the kernel ran out of memory (M=%d N=%d K=%d)", M, N, K);
          rc = -2;
        } else if (frc != 0) {
          snprintf(msg, cap, "the kernel returned an error (M=%d N=%d K=%d ta=%d tb=%d)",
                   M, N, K, ta, tb);
          rc = -1;
        }
        for (int i = 0; i < M && !rc; i++)
          for (int j = 0; j < N && !rc; j++) {
            double r = R[2 * (i * N + j)], bound = 1e-5 * R[2 * (i * N + j) + 1] + 1e-30;
            double got = C[i * ldc + j];
            if (!(fabs(got - r) <= bound)) {
              snprintf(
                  msg, cap,
                  "C[%d,%d] = %.7g, expected %.7g (M=%d N=%d K=%d ta=%d tb=%d beta=%g)",
                  i, j, got, r, M, N, K, ta, tb, beta);
              rc = -1;
            }
          }
      }
      free(A);
      free(B);
      free(C);
      free(R);
    }
  }
  return rc;
}

static void cpu_flags(char *buf, size_t cap) {
  buf[0] = '\0';
#if defined(__x86_64__) || defined(__i386__)
  static const char *const names[] = {"avx512f", "avx512bw", "avx512dq", "avx512vl",
                                      "avx2",    "fma",      "avx"};
  const int have[] = {
      __builtin_cpu_supports("avx512f"),  __builtin_cpu_supports("avx512bw"),
      __builtin_cpu_supports("avx512dq"), __builtin_cpu_supports("avx512vl"),
      __builtin_cpu_supports("avx2"),     __builtin_cpu_supports("fma"),
      __builtin_cpu_supports("avx")};
  size_t n = 0;
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (have[i] && n < cap)
      n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? "," : "", names[i]);
  if (!n) snprintf(buf, cap, "none");
#else
  snprintf(buf, cap, "non-x86");
#endif
}

static void openblas_isa(void) {
  const char *core = openblas_get_corename();
  snprintf(g_isa, sizeof g_isa, "%s", core && *core ? core : "unknown");
}

/* appends one sentence to the warning, "; "-separated */
static void warn(const char *fmt, ...) {
  size_t n = strlen(g_warning);
  if (n + 3 >= sizeof g_warning) return;
  if (n) n += (size_t)snprintf(g_warning + n, sizeof g_warning - n, "; ");
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_warning + n, sizeof g_warning - n, fmt, ap);
  va_end(ap);
}

static void select_backend(void) {
  cpu_flags(g_cpu, sizeof g_cpu);
  const char *want = getenv("EFFBENCH_GEMM");
  char why[200] = "";
  if (want && *want && strcmp(want, "auto") != 0 && strcmp(want, "onednn") != 0 &&
      strcmp(want, "openblas") != 0)
    warn("EFFBENCH_GEMM=%s is not one of auto, onednn, openblas; using auto", want);
  int forced_openblas = want && strcmp(want, "openblas") == 0;
  int forced_onednn = want && strcmp(want, "onednn") == 0;
  g_backend = GEMM_OPENBLAS;
#ifdef EB_USE_ONEDNN
#if defined(__x86_64__)
  int capable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  int capable = 0;
#endif
  if (!forced_openblas && (forced_onednn || capable)) {
    /* oneDNN builds its kernels in C++ on the first call: an allocation that
     * fails there throws through the C API and ends the process (SIGABRT,
     * after libstdc++'s "terminate called after throwing ..."). Say so and
     * exit 1 instead; `effbench` runs the self-check first thing in main,
     * before a file is opened. */
    struct sigaction quiet = {.sa_handler = onednn_abort}, saved;
    sigemptyset(&quiet.sa_mask);
    sigaction(SIGABRT, &quiet, &saved);
    const int check = eb__gemm_self_check(onednn_call, why, sizeof why);
    sigaction(SIGABRT, &saved, NULL);
    if (check == 0) {
      g_backend = GEMM_ONEDNN;
      snprintf(g_isa, sizeof g_isa, "%s", onednn_isa_name(dnnl_get_effective_cpu_isa()));
    } else {
      warn(check == -2
               ? "oneDNN's sgemm could not be self-checked (%s); using OpenBLAS "
                 "instead"
               : "oneDNN's sgemm failed its self-check (%s); using OpenBLAS instead",
           why);
    }
  }
#else
  (void)forced_openblas;
  if (forced_onednn)
    warn("EFFBENCH_GEMM=onednn, but this effbench was built without oneDNN (install "
         "libdnnl-dev and rebuild, with OpenMP); using OpenBLAS");
#endif
  if (g_backend == GEMM_OPENBLAS) {
    openblas_isa();
    const int check = eb__gemm_self_check(openblas_fn, why, sizeof why);
    if (check == -2)
      warn("OpenBLAS's sgemm (core %s) could not be self-checked (%s)", g_isa, why);
    else if (check != 0)
      warn("OpenBLAS's sgemm (core %s) failed its self-check (%s): results may be wrong",
           g_isa, why);
  }
  g_info.backend = g_backend == GEMM_ONEDNN ? "onednn" : "openblas";
  g_info.isa = g_isa;
  g_info.cpu = g_cpu;
  g_info.warning = g_warning;
}

const eb_gemm_info *eb_gemm_info_get(void) {
  pthread_once(&g_once, select_backend);
  return &g_info;
}

void eb__sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
  pthread_once(&g_once, select_backend);
#ifdef EB_USE_ONEDNN
  if (g_backend == GEMM_ONEDNN &&
      onednn_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0)
    return;
#endif
  openblas_call(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
