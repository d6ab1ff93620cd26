/* Thread control: one knob for OpenBLAS and the engine's OpenMP loops. */
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "effbench/core.h"

static int g_threads = 1;

void eb_set_threads(int n) {
  if (n < 1) n = 1;
  g_threads = n;
  openblas_set_num_threads(n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

int eb_get_threads(void) { return g_threads; }
