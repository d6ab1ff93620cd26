/* Thread control. The engine parallelises with OpenMP, GEMMs included (they
 * are split into shape-determined chunks, see eb__gemm in ops_util.h), so
 * OpenBLAS itself runs single-threaded: its own thread pool and OpenMP's would
 * otherwise compete for the same cores. */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "effbench/core.h"

static int g_threads = 1;

void eb_set_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  openblas_set_num_threads(1);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int eb_get_threads(void) { return g_threads; }
