/* Scaling-law fits (results/api/fit.h): y = a C^-b + c recovered from synthetic
 * points with known a, b, c, exactly without noise and within tolerance with
 * it; the bootstrap interval over seeds covers the truth and is reproducible;
 * degenerate inputs (too few budgets, equal C, constant y, rising y, bad
 * values, one seed) are refused with a reason, never fitted. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fit.h"

#define NB 6
#define NS 3
static const double BUDGETS[NB] = {1e11, 3e11, 1e12, 3e12, 1e13, 3e13};

static double rel(double x, double ref) { return fabs(x - ref) / fabs(ref); }

/* Box-Muller normal from a tiny LCG: the test's own noise, fixed */
static double gauss(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  double u1 = ((*s >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  double u2 = ((*s >> 11) + 0.5) * (1.0 / 9007199254740992.0);
  return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static void test_exact(void) {
  /* several shapes: a loss-like curve, a steep one, one with c = 0 */
  const double cases[][3] = {{40.0, 0.15, 0.9}, {3e6, 0.6, 0.25}, {2e3, 0.3, 0.0}};
  for (int k = 0; k < 3; k++) {
    double a = cases[k][0], b = cases[k][1], c = cases[k][2], y[NB];
    for (int i = 0; i < NB; i++)
      y[i] = a * pow(BUDGETS[i], -b) + c;
    eb_powfit f;
    char err[256] = "";
    int rc = eb_powfit_fit(BUDGETS, y, NB, &f, err, sizeof err);
    CHECK(rc == 0, "case %d: exact points not fitted: %s", k, err);
    if (rc) continue;
    CHECK(rel(f.b, b) < 1e-5, "case %d: b %.9g, want %g", k, f.b, b);
    CHECK(rel(f.a, a) < 1e-4, "case %d: a %.9g, want %g", k, f.a, a);
    CHECK(fabs(f.c - c) < 1e-6 * (1 + c), "case %d: c %.9g, want %g", k, f.c, c);
    CHECK(f.r2 > 1 - 1e-9, "case %d: r2 %.12g", k, f.r2);
    CHECK(f.budgets == NB && f.n == NB, "case %d: budgets %d n %d", k, f.budgets, f.n);
    CHECK(rel(eb_powfit_eval(&f, 5e12), a * pow(5e12, -b) + c) < 1e-6,
          "case %d: eval off", k);
  }
}

/* NS seeds x NB budgets with noise of sd `sd`; every seed at the same budgets,
 * as the runs of one config are */
static void make_noisy(double a, double b, double c, double sd, uint64_t seed, double *C,
                       double *y, int *grp) {
  uint64_t s = seed;
  for (int g = 0; g < NS; g++)
    for (int i = 0; i < NB; i++) {
      int k = g * NB + i;
      C[k] = BUDGETS[i];
      y[k] = a * pow(C[k], -b) + c + sd * gauss(&s);
      grp[k] = g;
    }
}

static void test_noisy(void) {
  const double a = 40.0, b = 0.15, c = 0.9;
  double C[NS * NB], y[NS * NB];
  int grp[NS * NB];
  make_noisy(a, b, c, 0.004, 7, C, y, grp);
  eb_powfit f;
  char err[256] = "";
  int rc = eb_powfit_fit(C, y, NS * NB, &f, err, sizeof err);
  CHECK(rc == 0, "noisy points not fitted: %s", err);
  if (rc) return;
  /* the curve spans 0.3 in y; noise 0.004 leaves b within a few percent */
  CHECK(rel(f.b, b) < 0.1, "noisy b %.4g, want %g", f.b, b);
  CHECK(fabs(f.c - c) < 0.05, "noisy c %.4g, want %g", f.c, c);
  for (int i = 0; i < NB; i++) {
    double want = a * pow(BUDGETS[i], -b) + c;
    CHECK(fabs(eb_powfit_eval(&f, BUDGETS[i]) - want) < 0.01,
          "noisy curve at C=%g: %.4g, want %.4g", BUDGETS[i],
          eb_powfit_eval(&f, BUDGETS[i]), want);
  }
  eb_powfit_ci ci, ci2;
  rc = eb_powfit_bootstrap(C, y, grp, NS * NB, NS, 200, 12345, &ci, err, sizeof err);
  CHECK(rc == 0, "bootstrap failed: %s", err);
  if (rc) return;
  CHECK(ci.resamples == 200 && ci.fitted >= 100, "resamples %d fitted %d", ci.resamples,
        ci.fitted);
  const double truth[3] = {a, b, c}, est[3] = {f.a, f.b, f.c};
  const char *nm = "abc";
  for (int j = 0; j < 3; j++) {
    CHECK(ci.lo[j] <= ci.hi[j], "%c: interval [%g, %g] reversed", nm[j], ci.lo[j],
          ci.hi[j]);
    /* the estimate lies inside its own bootstrap interval (a little slack:
     * percentiles of a skewed refit distribution) */
    CHECK(est[j] >= ci.lo[j] * 0.95 - 1e-9 && est[j] <= ci.hi[j] * 1.05 + 1e-9,
          "%c: estimate %g outside [%g, %g]", nm[j], est[j], ci.lo[j], ci.hi[j]);
  }
  CHECK(ci.lo[1] <= truth[1] * 1.1 && ci.hi[1] >= truth[1] * 0.9,
        "b: interval [%g, %g] far from the truth %g", ci.lo[1], ci.hi[1], truth[1]);
  CHECK(ci.hi[1] > ci.lo[1], "b: zero-width interval from noisy seeds");
  /* same seed, same intervals; another seed, other draws */
  eb_powfit_bootstrap(C, y, grp, NS * NB, NS, 200, 12345, &ci2, err, sizeof err);
  CHECK(memcmp(ci.lo, ci2.lo, sizeof ci.lo) == 0 &&
            memcmp(ci.hi, ci2.hi, sizeof ci.hi) == 0,
        "bootstrap not reproducible with the same seed");
  eb_powfit_bootstrap(C, y, grp, NS * NB, NS, 200, 999, &ci2, err, sizeof err);
  CHECK(memcmp(ci.lo, ci2.lo, sizeof ci.lo) != 0, "the rng seed changes nothing");
  /* more noise: wider interval for b */
  make_noisy(a, b, c, 0.02, 7, C, y, grp);
  rc = eb_powfit_bootstrap(C, y, grp, NS * NB, NS, 200, 12345, &ci2, err, sizeof err);
  if (rc == 0)
    CHECK(ci2.hi[1] - ci2.lo[1] > ci.hi[1] - ci.lo[1],
          "5x the noise gives no wider b interval: [%g, %g] vs [%g, %g]", ci2.lo[1],
          ci2.hi[1], ci.lo[1], ci.hi[1]);
}

static void test_degenerate(void) {
  eb_powfit f;
  char err[256];
  double y[NB], C[NB];
  for (int i = 0; i < NB; i++)
    y[i] = 40 * pow(BUDGETS[i], -0.15) + 0.9;
  /* too few points / budgets */
  err[0] = 0;
  CHECK(eb_powfit_fit(BUDGETS, y, 3, &f, err, sizeof err) == EB_FIT_ERR_FEW &&
            strstr(err, "3 distinct compute budgets"),
        "3 points: %s", err);
  CHECK(isnan(f.a) && isnan(f.b) && isnan(f.c), "a refused fit left numbers");
  CHECK(eb_powfit_fit(BUDGETS, y, 0, &f, err, sizeof err) == EB_FIT_ERR_FEW, "0 points");
  /* all C equal: one budget however many points */
  for (int i = 0; i < NB; i++)
    C[i] = 1e12;
  CHECK(eb_powfit_fit(C, y, NB, &f, err, sizeof err) == EB_FIT_ERR_FEW &&
            strstr(err, "1 distinct compute budget "),
        "equal C: %s", err);
  /* 3 budgets over 6 points still too few */
  for (int i = 0; i < NB; i++)
    C[i] = BUDGETS[i / 2];
  CHECK(eb_powfit_fit(C, y, NB, &f, err, sizeof err) == EB_FIT_ERR_FEW, "3 budgets");
  /* constant y */
  double k[NB];
  for (int i = 0; i < NB; i++)
    k[i] = 0.42;
  CHECK(eb_powfit_fit(BUDGETS, k, NB, &f, err, sizeof err) == EB_FIT_ERR_FLAT &&
            strstr(err, "do not change"),
        "constant y: %s", err);
  /* y rising with compute: no a > 0 */
  for (int i = 0; i < NB; i++)
    k[i] = 0.5 + 0.05 * i;
  CHECK(eb_powfit_fit(BUDGETS, k, NB, &f, err, sizeof err) == EB_FIT_ERR_FLAT &&
            strstr(err, "do not fall"),
        "rising y: %s", err);
  /* bad values */
  C[0] = 0;
  for (int i = 1; i < NB; i++)
    C[i] = BUDGETS[i];
  CHECK(eb_powfit_fit(C, y, NB, &f, err, sizeof err) == EB_FIT_ERR_INPUT, "C = 0: %s",
        err);
  k[2] = NAN;
  CHECK(eb_powfit_fit(BUDGETS, k, NB, &f, err, sizeof err) == EB_FIT_ERR_INPUT,
        "NaN y: %s", err);
  /* one seed: no bootstrap interval */
  int grp[NB] = {0};
  eb_powfit_ci ci;
  CHECK(eb_powfit_bootstrap(BUDGETS, y, grp, NB, 1, 50, 1, &ci, err, sizeof err) ==
                EB_FIT_ERR_SEEDS &&
            isnan(ci.lo[1]),
        "one seed: %s", err);
  /* seeds that each cover too few budgets: most resamples cannot be fitted */
  double C2[8], y2[8];
  int g2[8];
  for (int i = 0; i < 8; i++) {
    g2[i] = i / 2; /* 4 seeds, each with 2 budgets of its own */
    C2[i] = 1e11 * pow(3, i);
    y2[i] = 40 * pow(C2[i], -0.15) + 0.9;
  }
  int rc = eb_powfit_bootstrap(C2, y2, g2, 8, 4, 200, 1, &ci, err, sizeof err);
  CHECK(rc == 0 || rc == EB_FIT_ERR_UNSTABLE, "disjoint seeds: rc %d %s", rc, err);
  CHECK(ci.fitted < ci.resamples, "disjoint seeds: every resample fitted (%d)",
        ci.fitted);
  /* the budget counter */
  double d[5] = {1e12, 1e12 * (1 + 1e-12), 2e12, 3e12, 2e12};
  CHECK(eb_fit_budgets(d, 5) == 3, "budgets %d, want 3", eb_fit_budgets(d, 5));
}

int main(void) {
  test_exact();
  test_noisy();
  test_degenerate();
  return eb_test_done("test_fit");
}
