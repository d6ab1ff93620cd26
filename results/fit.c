/* y = a C^-b + c by variable projection (see fit.h): linear least squares in
 * (a, c) for each exponent b, a log grid over b, golden-section refinement;
 * bootstrap over seeds for the intervals. */
#include "fit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NGRID 241 /* log-spaced exponents in [B_MIN, B_MAX]: 60 per decade */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int eb_fit_budgets(const double *C, int n) {
  if (n <= 0) return 0;
  double *s = malloc((size_t)n * sizeof *s);
  if (!s) return -1;
  memcpy(s, C, (size_t)n * sizeof *s);
  qsort(s, (size_t)n, sizeof *s, cmp_double);
  int k = 1;
  for (int i = 1; i < n; i++)
    if (s[i] - s[i - 1] > 1e-9 * fabs(s[i])) k++;
  free(s);
  return k;
}

/* The points in fitting units: L = log(C / Cref), Cref their geometric mean. */
typedef struct {
  const double *L, *y;
  int n;
  double ymean, sst;
} prob;

/* For exponent b: the best a >= 0, c >= 0 of y ~ a exp(-b L) + c and the
 * residual sum of squares. A convex quadratic in (a, c): the optimum is the
 * unconstrained one when feasible, else the better of the two edges. */
static double profile(const prob *p, double b, double *a_out, double *c_out) {
  double sz = 0, szz = 0, szy = 0;
  for (int i = 0; i < p->n; i++) {
    double z = exp(-b * p->L[i]);
    sz += z;
    szz += z * z;
    szy += z * p->y[i];
  }
  double zm = sz / p->n;
  double vzz = szz - sz * zm, vzy = szy - zm * p->n * p->ymean;
  double best = INFINITY, ba = 0, bc = 0;
  double cand[3][2];
  int nc = 0;
  if (vzz > 0) {
    double a = vzy / vzz, c = p->ymean - a * zm;
    if (a >= 0 && c >= 0) {
      cand[nc][0] = a;
      cand[nc++][1] = c;
    }
  }
  if (nc == 0) {
    cand[nc][0] = szz > 0 && szy > 0 ? szy / szz : 0; /* c = 0 */
    cand[nc++][1] = 0;
    cand[nc][0] = 0; /* a = 0 */
    cand[nc++][1] = p->ymean > 0 ? p->ymean : 0;
  }
  for (int k = 0; k < nc; k++) {
    double rss = 0;
    for (int i = 0; i < p->n; i++) {
      double r = p->y[i] - cand[k][0] * exp(-b * p->L[i]) - cand[k][1];
      rss += r * r;
    }
    if (rss < best) {
      best = rss;
      ba = cand[k][0];
      bc = cand[k][1];
    }
  }
  *a_out = ba;
  *c_out = bc;
  return best;
}

static double grid_b(int i) {
  return EB_FIT_B_MIN * pow(EB_FIT_B_MAX / EB_FIT_B_MIN, (double)i / (NGRID - 1));
}

int eb_powfit_fit(const double *C, const double *y, int n, eb_powfit *f, char *err,
                  size_t errlen) {
  memset(f, 0, sizeof *f);
  f->a = f->b = f->c = f->rss = f->r2 = NAN;
  f->n = n;
  for (int i = 0; i < n; i++)
    if (!(C[i] > 0) || !isfinite(C[i]) || !isfinite(y[i])) {
      snprintf(err, errlen, "point %d: compute %g, value %g (need a finite C > 0 and y)",
               i + 1, C[i], y[i]);
      return EB_FIT_ERR_INPUT;
    }
  int budgets = eb_fit_budgets(C, n);
  if (budgets < 0) {
    snprintf(err, errlen, "out of memory");
    return EB_FIT_ERR_NOMEM;
  }
  f->budgets = budgets;
  if (budgets < EB_FIT_MIN_BUDGETS) {
    snprintf(err, errlen, "%d distinct compute budget%s (at least %d needed)", budgets,
             budgets == 1 ? "" : "s", EB_FIT_MIN_BUDGETS);
    return EB_FIT_ERR_FEW;
  }
  double *L = malloc((size_t)n * sizeof *L);
  if (!L) {
    snprintf(err, errlen, "out of memory");
    return EB_FIT_ERR_NOMEM;
  }
  double lref = 0, ym = 0;
  for (int i = 0; i < n; i++) {
    lref += log(C[i]);
    ym += y[i];
  }
  lref /= n;
  ym /= n;
  double sst = 0, yscale = 0;
  for (int i = 0; i < n; i++) {
    L[i] = log(C[i]) - lref;
    sst += (y[i] - ym) * (y[i] - ym);
    yscale += y[i] * y[i];
  }
  prob p = {L, y, n, ym, sst};
  int rc = 0;
  if (!(sst > 1e-24 * (yscale > 0 ? yscale : 1))) {
    snprintf(err, errlen, "the values do not change with compute (all %g)", y[0]);
    rc = EB_FIT_ERR_FLAT;
    goto out;
  }
  /* stage 1: the grid over b */
  int k = 0;
  double best = INFINITY, a, c;
  for (int i = 0; i < NGRID; i++) {
    double r = profile(&p, grid_b(i), &a, &c);
    if (r < best) {
      best = r;
      k = i;
    }
  }
  /* stage 2: golden section in log b on the best cell's neighbours */
  double lo = log(grid_b(k > 0 ? k - 1 : 0)), hi = log(grid_b(k < NGRID - 1 ? k + 1 : k));
  const double g = 0.5 * (sqrt(5.0) - 1);
  double x1 = hi - g * (hi - lo), x2 = lo + g * (hi - lo);
  double f1 = profile(&p, exp(x1), &a, &c), f2 = profile(&p, exp(x2), &a, &c);
  for (int it = 0; it < 200 && hi - lo > 1e-12; it++) {
    if (f1 <= f2) {
      hi = x2;
      x2 = x1;
      f2 = f1;
      x1 = hi - g * (hi - lo);
      f1 = profile(&p, exp(x1), &a, &c);
    } else {
      lo = x1;
      x1 = x2;
      f1 = f2;
      x2 = lo + g * (hi - lo);
      f2 = profile(&p, exp(x2), &a, &c);
    }
  }
  double b = exp(0.5 * (lo + hi));
  double rss = profile(&p, b, &a, &c);
  if (best < rss) { /* the grid point itself was better (flat profile) */
    b = grid_b(k);
    rss = profile(&p, b, &a, &c);
  }
  if (!(a > 0) || !(rss < sst * (1 - 1e-9))) {
    snprintf(err, errlen,
             "the values do not fall with compute (no a > 0 fits better "
             "than a constant)");
    rc = EB_FIT_ERR_FLAT;
    goto out;
  }
  if (k == 0 || k == NGRID - 1) {
    snprintf(err, errlen,
             "exponent at the edge of the search (b %s %g): no power law in these points",
             k == 0 ? "<=" : ">=", k == 0 ? EB_FIT_B_MIN : EB_FIT_B_MAX);
    rc = EB_FIT_ERR_BOUND;
    goto out;
  }
  f->a = a * exp(b * lref); /* back from C / Cref to C */
  f->b = b;
  f->c = c;
  f->rss = rss;
  f->r2 = 1 - rss / sst;
out:
  free(L);
  return rc;
}

double eb_powfit_eval(const eb_powfit *f, double C) {
  return f->a * pow(C, -f->b) + f->c;
}

/* splitmix64: a small, well-mixed, seedable generator */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* type-7 percentile of sorted v[m] */
static double percentile(const double *v, int m, double q) {
  double h = (m - 1) * q;
  int i = (int)floor(h);
  if (i >= m - 1) return v[m - 1];
  return v[i] + (h - i) * (v[i + 1] - v[i]);
}

int eb_powfit_bootstrap(const double *C, const double *y, const int *group, int n,
                        int ngroups, int resamples, uint64_t rng_seed, eb_powfit_ci *ci,
                        char *err, size_t errlen) {
  memset(ci, 0, sizeof *ci);
  for (int j = 0; j < 3; j++)
    ci->lo[j] = ci->hi[j] = NAN;
  if (ngroups < 2) {
    snprintf(err, errlen,
             "one seed: no interval (a bootstrap over seeds needs 2 or more)");
    return EB_FIT_ERR_SEEDS;
  }
  if (resamples < 1) resamples = 1;
  /* points of each group, contiguous: start[g] .. start[g+1] in order[] */
  int *start = calloc((size_t)ngroups + 1, sizeof *start);
  int *order = malloc((size_t)n * sizeof *order);
  double *bc = malloc((size_t)n * ngroups * sizeof *bc);
  double *by = malloc((size_t)n * ngroups * sizeof *by);
  double *par = malloc((size_t)3 * resamples * sizeof *par);
  int rc = 0;
  if (!start || !order || !bc || !by || !par) {
    snprintf(err, errlen, "out of memory");
    rc = EB_FIT_ERR_NOMEM;
    goto out;
  }
  for (int i = 0; i < n; i++)
    start[group[i] + 1]++;
  for (int g = 0; g < ngroups; g++)
    start[g + 1] += start[g];
  {
    int *fill = calloc((size_t)ngroups, sizeof *fill);
    if (!fill) {
      snprintf(err, errlen, "out of memory");
      rc = EB_FIT_ERR_NOMEM;
      goto out;
    }
    for (int i = 0; i < n; i++)
      order[start[group[i]] + fill[group[i]]++] = i;
    free(fill);
  }
  uint64_t s = rng_seed;
  int ok = 0;
  for (int r = 0; r < resamples; r++) {
    int m = 0;
    for (int d = 0; d < ngroups; d++) {
      int g = (int)((next_u64(&s) >> 11) * (1.0 / 9007199254740992.0) * ngroups);
      if (g >= ngroups) g = ngroups - 1;
      for (int j = start[g]; j < start[g + 1]; j++) {
        bc[m] = C[order[j]];
        by[m++] = y[order[j]];
      }
    }
    eb_powfit f;
    char why[256];
    if (eb_powfit_fit(bc, by, m, &f, why, sizeof why) == 0) {
      par[0 * resamples + ok] = f.a;
      par[1 * resamples + ok] = f.b;
      par[2 * resamples + ok] = f.c;
      ok++;
    }
  }
  ci->resamples = resamples;
  ci->fitted = ok;
  if (2 * ok < resamples) {
    snprintf(err, errlen, "only %d of %d bootstrap resamples could be fitted", ok,
             resamples);
    rc = EB_FIT_ERR_UNSTABLE;
    goto out;
  }
  for (int j = 0; j < 3; j++) {
    double *v = par + (size_t)j * resamples;
    qsort(v, (size_t)ok, sizeof *v, cmp_double);
    ci->lo[j] = percentile(v, ok, 0.025);
    ci->hi[j] = percentile(v, ok, 0.975);
  }
out:
  free(start);
  free(order);
  free(bc);
  free(by);
  free(par);
  return rc;
}
