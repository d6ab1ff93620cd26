/* Scaling-law fits: y = a * C^-b + c, with C the training compute (model
 * FLOPs) of a run and y its loss or error rate (after Tay et al. 2022,
 * "Scaling Laws vs Model Architectures"). Pure math, no database: the report
 * and the figure gather the points (fitruns.h) and call these.
 *
 * Method: variable projection. For a fixed exponent b the model is linear in
 * (a, c), so a and c have a closed-form least-squares solution (with c >= 0
 * and a >= 0 enforced by solving on the active constraint); the residual sum
 * of squares is then a function of b alone. It is scanned on a log grid of b
 * in [EB_FIT_B_MIN, EB_FIT_B_MAX] and the best grid cell is refined by
 * golden-section search, which gives the full nonlinear least-squares optimum
 * of (a, b, c) under b > 0, c >= 0. C is divided by its geometric mean
 * before fitting (a is converted back), so the numbers stay well scaled.
 *
 * A fit is refused, never invented: fewer than EB_FIT_MIN_BUDGETS distinct
 * compute budgets, y that does not change or does not fall with compute, or
 * an exponent at the edge of the search range (no power law in the points).
 *
 * Confidence intervals: bootstrap over seeds. Each resample draws as many
 * seeds as there are, with replacement, takes every point of each drawn seed
 * and refits; the interval is the 2.5 and 97.5 percentiles of the refits that
 * succeeded. The generator is seeded, so the intervals are reproducible. */
#ifndef EFFBENCH_FIT_H
#define EFFBENCH_FIT_H

#include <stddef.h>
#include <stdint.h>

#define EB_FIT_MIN_BUDGETS 4
#define EB_FIT_B_MIN 1e-3
#define EB_FIT_B_MAX 10.0

/* Results of eb_powfit and eb_powfit_bootstrap: 0 = fitted, else one of
 * these, with the reason in err. */
#define EB_FIT_ERR_INPUT (-1)    /* a C <= 0, or a C or y not finite */
#define EB_FIT_ERR_FEW (-2)      /* fewer than EB_FIT_MIN_BUDGETS distinct C */
#define EB_FIT_ERR_FLAT (-3)     /* y does not change, or does not fall with C */
#define EB_FIT_ERR_BOUND (-4)    /* best exponent at the edge of the search */
#define EB_FIT_ERR_SEEDS (-5)    /* bootstrap: fewer than 2 seeds */
#define EB_FIT_ERR_UNSTABLE (-6) /* bootstrap: under half the resamples fit */
#define EB_FIT_ERR_NOMEM (-7)

typedef struct {
  double a, b, c; /* y = a * C^-b + c, C in FLOPs */
  double rss;     /* residual sum of squares */
  double r2;      /* 1 - rss / total sum of squares */
  int n;          /* points */
  int budgets;    /* distinct C */
} eb_powfit;

typedef struct {
  double lo[3], hi[3]; /* 2.5 / 97.5 percentiles of a, b, c */
  int resamples;       /* drawn */
  int fitted;          /* of them, fitted (the percentiles are over these) */
} eb_powfit_ci;

/* Distinct values of C (relative difference above 1e-9). */
int eb_fit_budgets(const double *C, int n);

/* Fits y = a C^-b + c to n points. Returns 0 or EB_FIT_ERR_* with err, e.g.
 * "3 distinct compute budgets (at least 4 needed)". */
int eb_powfit_fit(const double *C, const double *y, int n, eb_powfit *f, char *err,
                  size_t errlen);

/* a * C^-b + c */
double eb_powfit_eval(const eb_powfit *f, double C);

/* Bootstrap over seeds: group[i] in [0, ngroups) is the seed of point i.
 * resamples >= 1; rng_seed makes it reproducible. Returns 0 or
 * EB_FIT_ERR_SEEDS / EB_FIT_ERR_UNSTABLE / EB_FIT_ERR_NOMEM with err; ci is
 * filled as far as it got (resamples, fitted) in every case. */
int eb_powfit_bootstrap(const double *C, const double *y, const int *group, int n,
                        int ngroups, int resamples, uint64_t rng_seed, eb_powfit_ci *ci,
                        char *err, size_t errlen);

#endif
