/* Adam(W), warm-up schedules and global-norm gradient clipping. */
#include "optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_util.h"

/* elements per work item of the parallel loops below: fixed, so that the
 * clipping norm's partial sums do not depend on the thread count */
#define OPT_CHUNK 8192

/* One chunk of Adam(W) on w, g, m, v [n]: elementwise, so any split of the
 * block gives the same bits. */
EB_CLONES_MEM static void adam_chunk(float *restrict w, const float *restrict g,
                                     float *restrict m, float *restrict v, int64_t n,
                                     float b1, float b2, float c1, float c2, float eps,
                                     float lr, float decay) {
  for (int64_t j = 0; j < n; j++) {
    m[j] = b1 * m[j] + (1.0f - b1) * g[j];
    v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
    w[j] -= lr * (m[j] * c1) / (sqrtf(v[j] * c2) + eps) + decay * w[j];
  }
}

eb_adam eb_adam_lra(float weight_decay) {
  eb_adam a = {0.9f, 0.98f, 1e-9f, weight_decay};
  return a;
}

void eb_adam_step(eb_params *P, const eb_adam *opt, float lr, int64_t t) {
  const float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
  const float c1 = 1.0f / (1.0f - powf(b1, (float)t));
  const float c2 = 1.0f / (1.0f - powf(b2, (float)t));
  float *state = eb_params_opt_state(P);
  int64_t padded = eb_params_padded(P);
  float *m_all = state, *v_all = state + padded;
  float *data = eb_params_data(P), *grad = eb_params_grads(P);
  const int np = eb_params_count(P);
  /* one team for all parameters; each parameter's chunks shared out with no
   * barrier between parameters (their elements are disjoint) */
  EB_OMP("omp parallel if (padded > EB_PAR_MIN)")
  for (int i = 0; i < np; i++) {
    eb_tensor *p = eb_params_get(P, i);
    if (!p->requires_grad) continue; /* a buffer (eb_param_buffer) */
    int64_t off = p->data - data, n = p->size;
    float *w = p->data, *g = grad + off, *m = m_all + off, *v = v_all + off;
    /* decoupled weight decay where the parameter was declared to decay
     * (unset: matrices only, not biases or norms) */
    const float decay = (opt->weight_decay > 0 && eb_params_decays(P, i) == 1)
                            ? lr * opt->weight_decay
                            : 0;
    EB_OMP("omp for schedule(static) nowait")
    for (int64_t j = 0; j < n; j += OPT_CHUNK)
      adam_chunk(w + j, g + j, m + j, v + j, n - j < OPT_CHUNK ? n - j : OPT_CHUNK, b1,
                 b2, c1, c2, eps, lr, decay);
  }
}

float eb_lr_at(eb_schedule s, float base, int64_t step, int64_t warmup, int64_t total) {
  if (step < 1) step = 1;
  double w = warmup > 0 ? (double)warmup : 0.0;
  double ramp = (w > 0 && step < w) ? (double)step / w : 1.0;
  switch (s) {
  case EB_SCHED_CONSTANT: return (float)(base * ramp);
  case EB_SCHED_RSQRT: {
    double denom = (double)step > w ? (double)step : (w > 0 ? w : 1.0);
    return (float)(base * ramp * sqrt((w > 0 ? w : 1.0) / denom));
  }
  case EB_SCHED_COSINE: {
    if (w > 0 && step < w) return (float)(base * ramp);
    double span = (double)total - w;
    if (span <= 0) return base;
    double p = ((double)step - w) / span;
    if (p > 1) p = 1;
    return (float)(base * 0.5 * (1.0 + cos(3.141592653589793 * p)));
  }
  }
  return base;
}

static const char *const sched_names[] = {"constant", "rsqrt", "cosine"};

int eb_schedule_parse(const char *name, eb_schedule *out) {
  for (int i = 0; i < 3; i++)
    if (strcmp(name, sched_names[i]) == 0) {
      *out = (eb_schedule)i;
      return 0;
    }
  return -1;
}

const char *eb_schedule_name(eb_schedule s) {
  return (unsigned)s < 3 ? sched_names[s] : "?";
}

double eb_clip_grad_norm(eb_params *P, double max_norm) {
  float *g = eb_params_grads(P);
  const int64_t n = eb_params_padded(P), nc = (n + OPT_CHUNK - 1) / OPT_CHUNK;
  /* sum of squares by fixed chunks (in parallel when the partial sums have
   * room), the chunk sums added in order: the same for any thread count */
  double *part = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *part);
  double ss = 0;
  EB_OMP("omp parallel for schedule(static) if (part && n > EB_PAR_MIN)")
  for (int64_t c = 0; c < nc; c++) {
    const int64_t i1 = (c + 1) * OPT_CHUNK < n ? (c + 1) * OPT_CHUNK : n;
    double s = 0;
    for (int64_t i = c * OPT_CHUNK; i < i1; i++)
      s += (double)g[i] * g[i];
    if (part)
      part[c] = s;
    else
      ss += s; /* serial: no room for the partial sums */
  }
  for (int64_t c = 0; part && c < nc; c++)
    ss += part[c];
  free(part);
  double norm = sqrt(ss);
  if (max_norm > 0 && norm > max_norm) {
    float s = (float)(max_norm / (norm + 1e-12));
    EB_OMP("omp parallel for schedule(static) if (n > EB_PAR_MIN)")
    for (int64_t i = 0; i < n; i++)
      g[i] *= s;
  }
  return norm;
}
