#include "bench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "optim.h"
#include "train.h"

static long long status_field(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long long kb = -1;
  size_t n = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0 && line[n] == ':') {
      kb = strtoll(line + n + 1, NULL, 10);
      break;
    }
  fclose(f);
  return kb < 0 ? -1 : kb * 1024;
}

long long eb_rss_bytes(void) { return status_field("VmRSS"); }
long long eb_rss_peak_bytes(void) { return status_field("VmHWM"); }
void eb_rss_peak_reset(void) {
  /* "5" resets the peak RSS counter (Linux >= 4.0); harmless if refused */
  FILE *f = fopen("/proc/self/clear_refs", "w");
  if (f) {
    fputs("5", f);
    fclose(f);
  }
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double eb_sort_median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int eb_bench_run(const eb_arch *arch, const eb_args *args, const eb_model_config *mcfg,
                 const eb_bench_cfg *cfg, eb_bench_result *res, char *err,
                 size_t errlen) {
  memset(res, 0, sizeof *res);
  eb_rss_peak_reset();
  long long rss0 = eb_rss_bytes();
  eb_model m;
  int rc = eb_model_create(&m, arch, mcfg, args, cfg->vocab, cfg->classes, cfg->len, 0,
                           cfg->seed, err, errlen);
  if (rc) return rc;
  res->params_total = eb_params_numel(m.P);
  eb_batch b;
  eb_ctx *ctx = eb_ctx_create((size_t)64 << 20, cfg->seed);
  int cap = 1024;
  double *times = malloc((size_t)cap * sizeof *times);
  if (eb_batch_alloc(&b, cfg->batch, cfg->len, 0) || !ctx || !times) {
    snprintf(err, errlen, "out of memory");
    eb_batch_free(&b);
    eb_ctx_destroy(ctx);
    free(times);
    eb_model_destroy(&m);
    return EB_NOMEM;
  }
  eb_rng r = eb_rng_make(cfg->seed, 0xBE4C);
  for (int i = 0; i < cfg->batch * cfg->len; i++) {
    b.tokens[i] = 1 + (int32_t)(eb_rng_u64(&r) % (uint64_t)(cfg->vocab - 1));
    b.mask[i] = 1;
  }
  for (int i = 0; i < cfg->batch; i++)
    b.labels[i] = (int32_t)(eb_rng_u64(&r) % (uint64_t)cfg->classes);
  b.real_tokens = (int64_t)cfg->batch * cfg->len;
  eb_adam opt = eb_adam_lra(0);
  eb_ctx_set_grad(ctx, cfg->train);
  eb_ctx_set_training(ctx, cfg->train);
  int n = 0;
  double total = 0;
  for (int it = 0;; it++) {
    int measuring = it >= cfg->warmup;
    if (measuring && n >= cfg->min_reps && total >= cfg->min_seconds) break;
    eb_ctx_reset(ctx);
    eb_ctx_set_step(ctx, (uint64_t)it + 1);
    eb_ctx_reset_flops(ctx);
    double t0 = eb_now();
    if (cfg->train) {
      eb_params_zero_grad(m.P);
      eb_tensor *loss = eb_model_loss(&m, ctx, &b, NULL, NULL, err, errlen);
      if (!loss || eb_backward(ctx, loss)) {
        if (loss) snprintf(err, errlen, "backward: %s", eb_ctx_error(ctx));
        rc = eb_ctx_rc(ctx);
        break;
      }
      eb_adam_step(m.P, &opt, 1e-4f, it + 1);
    } else {
      if (!eb_model_logits(&m, ctx, &b, err, errlen)) {
        rc = eb_ctx_rc(ctx);
        break;
      }
    }
    double dt = eb_now() - t0;
    if (!measuring) continue;
    if (n == cap) {
      double *t2 = realloc(times, (size_t)(cap *= 2) * sizeof *times);
      if (!t2) {
        snprintf(err, errlen, "out of memory");
        rc = EB_NOMEM;
        break;
      }
      times = t2;
    }
    times[n++] = dt;
    total += dt;
    eb_flops f = eb_ctx_flops(ctx);
    res->flops_step = f.forward + f.backward;
    res->flops_model = res->flops_step - eb_ctx_recompute(ctx);
    res->bytes_step = eb_ctx_bytes(ctx);
    res->gemm_flops_step = eb_ctx_gemm_flops(ctx);
    res->gemm_flops_model = res->gemm_flops_step - eb_ctx_gemm_recompute(ctx);
  }
  if (rc == EB_OK) {
    double med = eb_sort_median(times, n);
    res->reps = n;
    res->ms_median = 1e3 * med;
    res->ms_min = 1e3 * times[0];
    res->ms_max = 1e3 * times[n - 1];
    double sum = 0, ss = 0;
    for (int i = 0; i < n; i++)
      sum += times[i];
    double mean = sum / n;
    for (int i = 0; i < n; i++)
      ss += (times[i] - mean) * (times[i] - mean);
    res->ms_mean = 1e3 * mean;
    res->ms_std = n > 1 ? 1e3 * sqrt(ss / (n - 1)) : 0;
    res->tokens_per_s = (double)cfg->batch * cfg->len / med;
    res->gflops_per_s = res->flops_step / med * 1e-9;
    res->gflops_model_per_s = res->flops_model / med * 1e-9;
    res->gbytes_per_s = res->bytes_step > 0 ? res->bytes_step / med * 1e-9 : 0;
    res->peak_mem_bytes = eb_ctx_arena_high_water(ctx) + eb_params_bytes(m.P);
    long long hwm = eb_rss_peak_bytes();
    res->rss_peak_delta = (hwm >= 0 && rss0 >= 0) ? hwm - rss0 : -1;
  }
  free(times);
  eb_batch_free(&b);
  eb_ctx_destroy(ctx);
  eb_model_destroy(&m);
  return rc;
}
