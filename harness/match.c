#include "match.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

typedef struct counted {
  int64_t params;
  double flops_token;
} counted;

static int count(const eb_arch *a, const eb_model_config *m, const eb_args *args,
                 const eb_task_info *ti, counted *c, char *why, size_t whylen) {
  return eb_model_counts(a, m, args, ti->vocab, ti->classes, ti->max_len,
                         ti->mode == EB_INPUT_PAIR, &c->params, &c->flops_token, why,
                         whylen);
}

static double value(eb_match_by by, const counted *c) {
  return by == EB_MATCH_PARAMS ? (double)c->params : c->flops_token;
}

static const char *unit(eb_match_by by) {
  return by == EB_MATCH_PARAMS ? "parameters" : "training FLOPs per token";
}

/* The width d of arch a closest in count to target: ffn scales with dim at
 * m0's ratio, everything else stays. Counts grow with d, so the scan stops
 * at the first accepted width at or above the target. */
static int closest_width(const eb_arch *a, const eb_model_config *m0, const eb_args *args,
                         const eb_task_info *ti, eb_match_by by, double target,
                         eb_model_config *best, counted *bc, char *why, size_t whylen) {
  const double ratio = (double)m0->ffn / m0->dim;
  double best_gap = INFINITY;
  char last[EB_ERR_LEN] = "";
  for (int d = 1; d <= 65536; d++) {
    eb_model_config m = *m0;
    m.dim = d;
    m.ffn = (int)fmax(1.0, floor(d * ratio + 0.5));
    counted c;
    if (count(a, &m, args, ti, &c, last, sizeof last)) continue; /* not accepted */
    const double v = value(by, &c);
    if (v < 0) {
      snprintf(why, whylen,
               "has no analytic FLOP count (no flops()), so it cannot be matched by "
               "flops; use match: params");
      return -1;
    }
    if (fabs(v - target) < best_gap) {
      best_gap = fabs(v - target);
      *best = m;
      *bc = c;
    }
    if (v >= target) break;
  }
  if (isinf(best_gap)) {
    snprintf(why, whylen, "cannot be resized: it accepts no model.dim in 1..65536 (%s)",
             last[0] ? last : "every width refused");
    return -1;
  }
  return 0;
}

int eb_match_run(eb_suite_run *r, eb_match_by by, const eb_arch *ref,
                 const eb_args *ref_args, double tolerance, const eb_task_info *info,
                 char *why, size_t whylen) {
  counted rc, c;
  char sub[EB_ERR_LEN] = "";
  if (count(ref, &r->ref_model, ref_args, info, &rc, sub, sizeof sub)) {
    snprintf(why, whylen, "the reference '%s' cannot be counted: %s", ref->name, sub);
    return -1;
  }
  const double target = value(by, &rc);
  if (target <= 0) {
    snprintf(why, whylen,
             "the reference '%s' has no analytic FLOP count (no flops()), so nothing "
             "can be matched to it by flops; use match: params or another match_to",
             ref->name);
    return -1;
  }
  if (r->arch == ref) {
    if (count(r->arch, &r->model, &r->arch_args.args, info, &c, why, whylen)) return -1;
  } else {
    eb_model_config m;
    if (closest_width(r->arch, &r->model, &r->arch_args.args, info, by, target, &m, &c,
                      why, whylen))
      return -1;
    r->model = m;
  }
  r->params = c.params;
  r->flops_token = c.flops_token;
  r->ref_params = rc.params;
  r->ref_flops_token = rc.flops_token;
  r->match_gap = fabs(value(by, &c) - target) / target;
  if (r->arch != ref && r->match_gap > tolerance) {
    snprintf(why, whylen,
             "cannot be resized to match '%s' by %s: its closest width, dim %d (ffn %d), "
             "gives %.6g %s, %.2f%% from the reference's %.6g (match_tolerance %.2f%%); "
             "the widths it accepts are too coarse here (dim must suit its heads): "
             "raise model.dim, lower its heads or raise match_tolerance",
             ref->name, by == EB_MATCH_PARAMS ? "params" : "flops", r->model.dim,
             r->model.ffn, value(by, &c), unit(by), 100 * r->match_gap, target,
             100 * tolerance);
    return -1;
  }
  return 0;
}
