/* Counter-based RNG: a draw is a keyed hash of (seed, stream, counter), so any
 * element of any stream can be computed independently (thread-count and
 * call-order independent). The mixer is the splitmix64 finaliser applied in a
 * chain; it passes the usual avalanche checks and is cheap. */
#include <math.h>

#include "effbench/core.h"

static uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t eb_rng_hash(uint64_t seed, uint64_t stream, uint64_t counter) {
  return mix64(seed ^ mix64(stream ^ mix64(counter ^ 0xA0761D6478BD642Full)));
}

eb_rng eb_rng_make(uint64_t seed, uint64_t stream) {
  eb_rng r = {seed, stream, 0};
  return r;
}

uint64_t eb_rng_u64(eb_rng *r) { return eb_rng_hash(r->seed, r->stream, r->counter++); }

static float u24(uint64_t h) { return (float)(h >> 40) * (1.0f / 16777216.0f); }

float eb_rng_uniform(eb_rng *r) { return u24(eb_rng_u64(r)); }

float eb_rng_uniform_at(uint64_t seed, uint64_t stream, uint64_t i) {
  return u24(eb_rng_hash(seed, stream, i));
}

float eb_rng_normal(eb_rng *r) {
  /* Box-Muller; u1 in (0,1] keeps log finite */
  double u1 = ((double)(eb_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double u2 = (double)(eb_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* Modified Gram-Schmidt, block by block, in place on the Gaussian rows (in
 * double for the dot products); a truncated last block is the first rows of
 * an orthonormalised full block in distribution. */
void eb_rng_orthogonal(eb_rng *r, float *out, int rows, int cols) {
  for (int r0 = 0; r0 < rows; r0 += cols) {
    int r1 = r0 + cols < rows ? r0 + cols : rows;
    for (int i = r0; i < r1; i++) {
      float *v = out + (int64_t)i * cols;
      for (int retry = 0; retry < 8; retry++) {
        for (int c = 0; c < cols; c++)
          v[c] = eb_rng_normal(r);
        for (int j = r0; j < i; j++) {
          const float *u = out + (int64_t)j * cols;
          double d = 0;
          for (int c = 0; c < cols; c++)
            d += (double)v[c] * u[c];
          for (int c = 0; c < cols; c++)
            v[c] -= (float)(d * u[c]);
        }
        double n = 0;
        for (int c = 0; c < cols; c++)
          n += (double)v[c] * v[c];
        if (n > 1e-12) { /* else (numerically dependent): draw again */
          double inv = 1.0 / sqrt(n);
          for (int c = 0; c < cols; c++)
            v[c] = (float)(v[c] * inv);
          break;
        }
      }
    }
  }
  for (int i = 0; i < rows; i++) { /* row norms of independent Gaussian vectors */
    double n = 0;
    for (int c = 0; c < cols; c++) {
      double g = eb_rng_normal(r);
      n += g * g;
    }
    float s = (float)sqrt(n);
    for (int c = 0; c < cols; c++)
      out[(int64_t)i * cols + c] *= s;
  }
}

int64_t eb_rng_below(eb_rng *r, int64_t n) {
  return n > 0 ? (int64_t)(eb_rng_u64(r) % (uint64_t)n) : 0;
}
