/* effbench's counter-based RNG: what a task (or anything else that needs
 * random numbers without the engine) includes. Part of the core API, and
 * included by effbench/core.h. */
#ifndef EFFBENCH_RNG_H
#define EFFBENCH_RNG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Counter-based: every draw is a pure function of (seed, stream, counter), so
 * results never depend on thread count or call order between streams. */
typedef struct eb_rng {
  uint64_t seed;
  uint64_t stream;
  uint64_t counter;
} eb_rng;

eb_rng eb_rng_make(uint64_t seed, uint64_t stream);
uint64_t eb_rng_hash(uint64_t seed, uint64_t stream, uint64_t counter);
uint64_t eb_rng_u64(eb_rng *r);
float eb_rng_uniform(eb_rng *r); /* [0,1) */
float eb_rng_normal(eb_rng *r);  /* N(0,1) */
/* uniform in [0,1) for element `i` of a stream, stateless */
float eb_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t i);
/* out[rows,cols]: orthogonal random features (FAVOR+, Choromanski et al. 2020).
 * Rows come in blocks of `cols` mutually orthonormal rows (Gram-Schmidt on a
 * Gaussian block, the last block truncated), each row then scaled to the norm
 * of an independent N(0, I_cols) vector, so rows are marginally Gaussian. */
void eb_rng_orthogonal(eb_rng *r, float *out, int rows, int cols);
/* Uniform integer in [0, n) (the draw's u64 modulo n); 0 when n <= 0. */
int64_t eb_rng_below(eb_rng *r, int64_t n);

#ifdef __cplusplus
}
#endif

#endif
