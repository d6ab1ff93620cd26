#include "check.h"

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>

#include <math.h>

int eb_test_failures = 0;

int eb_check_close(const char *what, const float *a, const float *b, long n, double rtol,
                   double floor) {
  double worst = 0;
  long wi = -1;
  for (long i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    double s = fabs((double)b[i]);
    double r = d / (s > floor ? s : floor);
    if (!(r <= worst)) { /* catches NaN */
      worst = r;
      wi = i;
    }
  }
  if (wi >= 0 && !(worst <= rtol)) {
    fprintf(stderr, "%s: rel. error %.3g > %.3g at [%ld]: got %.8g, want %.8g\n", what,
            worst, rtol, wi, (double)a[wi], (double)b[wi]);
    eb_test_failures++;
    return 0;
  }
  return 1;
}

int eb_test_done(const char *name) {
  if (eb_test_failures) {
    fprintf(stderr, "%s: %d check(s) failed\n", name, eb_test_failures);
    return 1;
  }
  printf("%s: ok\n", name);
  return 0;
}

#include <stdlib.h>
#include <string.h>

int eb_gradcheck(const char *what, eb_ctx *ctx, eb_loss_fn loss, void *user,
                 eb_tensor *const *leaves, int nleaves, float eps, double tol,
                 int max_per_tensor) {
  /* analytic gradients */
  for (int l = 0; l < nleaves; l++)
    memset(leaves[l]->grad, 0, leaves[l]->size * sizeof(float));
  eb_ctx_reset(ctx);
  eb_ctx_set_grad(ctx, 1);
  eb_tensor *L = loss(ctx, user);
  if (!L || eb_backward(ctx, L) != 0) {
    fprintf(stderr, "%s: forward/backward failed: %s\n", what, eb_ctx_error(ctx));
    eb_test_failures++;
    return 0;
  }
  int ok = 1;
  for (int l = 0; l < nleaves; l++) {
    eb_tensor *t = leaves[l];
    float *an = malloc(t->size * sizeof(float));
    memcpy(an, t->grad, t->size * sizeof(float));
    long step = t->size > max_per_tensor ? t->size / max_per_tensor : 1;
    double worst = 0;
    long wi = -1;
    double wa = 0, wn = 0;
    for (long i = 0; i < t->size; i += step) {
      double fp, fm, hp, hm;
      if (eb_fd_probe(ctx, loss, user, t, i, eps, &fp, &fm, &hp, &hm)) fp = fm = NAN;
      double num = (fp - fm) / (hp + hm);
      double a = an[i];
      double scale = fabs(a) > fabs(num) ? fabs(a) : fabs(num);
      if (scale < 1e-2) scale = 1e-2;
      double r = fabs(a - num) / scale;
      if (!(r <= worst)) {
        worst = r;
        wi = i;
        wa = a;
        wn = num;
      }
    }
    if (wi >= 0 && !(worst <= tol)) {
      fprintf(
          stderr,
          "%s: gradient of %s[%ld]: analytic %.6g vs numeric %.6g (rel. %.3g > %.3g)\n",
          what, t->name ? t->name : "leaf", wi, wa, wn, worst, tol);
      eb_test_failures++;
      ok = 0;
    }
    free(an);
  }
  eb_ctx_set_grad(ctx, 1);
  eb_ctx_reset(ctx);
  return ok;
}

int eb_test_cache_file(const char *dir, const char *task, char *buf, size_t len) {
  DIR *D = opendir(dir);
  int found = 0;
  size_t nl = strlen(task);
  struct dirent *e;
  while (D && (e = readdir(D))) {
    size_t l = strlen(e->d_name);
    if (strncmp(e->d_name, task, nl) || e->d_name[nl] != '-' || l < 5 ||
        strcmp(e->d_name + l - 5, ".ebds"))
      continue;
    snprintf(buf, len, "%s/%s", dir, e->d_name);
    found++;
  }
  if (D) closedir(D);
  return found == 1 ? 0 : -1;
}

long long eb_test_file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

#include "args.h"

int eb_test_resolve_kv(eb_argset *out, const char *owner, const eb_param_decl *decls,
                       const char *const *kv, char *err, size_t errlen) {
  const char *keys[8], *vals[8];
  char buf[8][64];
  int n = 0;
  for (; kv && kv[n] && n < 8; n++) {
    snprintf(buf[n], sizeof buf[n], "%s", kv[n]);
    char *eq = strchr(buf[n], '=');
    if (!eq) {
      snprintf(err, errlen, "test setting '%s' is not key=value", kv[n]);
      return -1;
    }
    *eq = '\0';
    keys[n] = buf[n];
    vals[n] = eq + 1;
  }
  return eb_argset_resolve(out, owner, decls, n, keys, vals, err, errlen);
}
