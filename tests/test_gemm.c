/* The GEMM backend (core/host/gemm.h): the self-check accepts a correct kernel and
 * rejects wrong ones; the chosen backend agrees with OpenBLAS and with a
 * double-precision reference on the engine's shapes; the same call gives the
 * same bits twice; EFFBENCH_GEMM selects the backend. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gemm.h"

/* a plain correct kernel */
static int naive(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      float s = 0;
      for (int k = 0; k < K; k++)
        s += (ta ? A[k * lda + i] : A[i * lda + k]) *
             (tb ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = alpha * s + (beta != 0 ? beta * C[i * ldc + j] : 0);
    }
  return 0;
}
/* wrong in one way each: drops the last k term; ignores beta; ignores lda */
static int drops_last_k(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  return naive(ta, tb, M, N, K > 1 ? K - 1 : K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static int ignores_beta(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                        int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  return naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.0f * beta, C, ldc);
}
static int ignores_lda(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                       int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  (void)lda;
  return naive(ta, tb, M, N, K, alpha, A, ta ? M : K, B, ldb, beta, C, ldc);
}
static int fails(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B;
  (void)ldb, (void)beta, (void)C, (void)ldc;
  return -1;
}
static int via_engine(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                      int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  eb__sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return 0;
}

static void fill(float *x, int n, unsigned seed) {
  for (int i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    x[i] = (float)((seed >> 9) & 0x3fff) / 8192.0f - 1.0f;
  }
}

int main(void) {
  char msg[256];
  CHECK(eb__gemm_self_check(naive, msg, sizeof msg) == 0,
        "a correct kernel was refused: %s", msg);
  CHECK(eb__gemm_self_check(drops_last_k, msg, sizeof msg) != 0,
        "a kernel that drops a term passed");
  CHECK(eb__gemm_self_check(ignores_beta, msg, sizeof msg) != 0,
        "a kernel that ignores beta passed");
  CHECK(eb__gemm_self_check(fails, msg, sizeof msg) != 0, "a failing kernel passed");
  CHECK(eb__gemm_self_check(ignores_lda, msg, sizeof msg) != 0,
        "a kernel that ignores the leading dimension passed");

  const eb_gemm_info *gi = eb_gemm_info_get();
  CHECK(gi &&
            (strcmp(gi->backend, "onednn") == 0 || strcmp(gi->backend, "openblas") == 0),
        "backend '%s'", gi ? gi->backend : "(null)");
  CHECK(gi->isa && gi->isa[0], "no ISA name");
  CHECK(gi->cpu && gi->cpu[0], "no CPU flags");
  const char *want = getenv("EFFBENCH_GEMM");
  if (want && strcmp(want, "openblas") == 0)
    CHECK(strcmp(gi->backend, "openblas") == 0, "EFFBENCH_GEMM=openblas gave %s",
          gi->backend);
  /* the chosen backend passes its own self-check (it was run at selection) */
  CHECK(eb__gemm_self_check(via_engine, msg, sizeof msg) == 0, "%s: %s", gi->backend,
        msg);

  /* the engine's shapes: agreement with the naive kernel, same bits twice */
  static const int shapes[][5] = {{16, 64, 64, 0, 1},    {4096, 48, 64, 0, 1},
                                  {64, 64, 512, 1, 0},   {512, 64, 64, 0, 0},
                                  {256, 384, 128, 0, 1}, {33, 1, 257, 1, 1}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2], ta = shapes[s][3],
        tb = shapes[s][4];
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
    float *C1 = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
    float *R = malloc(sizeof(float) * M * N);
    fill(A, M * K, 1u + (unsigned)s);
    fill(B, K * N, 99u + (unsigned)s);
    int lda = ta ? M : K, ldb = tb ? K : N;
    eb__sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C1, N);
    eb__sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C2, N);
    naive(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, R, N);
    CHECK(memcmp(C1, C2, sizeof(float) * M * N) == 0, "M=%d N=%d K=%d: two calls differ",
          M, N, K);
    eb_check_close("gemm vs naive", C1, R, (long)M * N, 1e-4, 1.0);
    free(A), free(B), free(C1), free(C2), free(R);
  }
  printf("gemm backend: %s (%s), cpu %s%s%s\n", gi->backend, gi->isa, gi->cpu,
         gi->warning[0] ? "; warning: " : "", gi->warning);
  return eb_test_done("test_gemm");
}
