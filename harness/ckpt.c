/* Training checkpoints (ckpt.h). The file: a 104-byte header, then the
 * payload, all in host byte order (the header's byte-order mark refuses a
 * file from another machine):
 *
 *   magic "EBCKPT\0\n", u32 version, u32 byte-order mark 0x01020304,
 *   run key (40 bytes, NUL-padded), i64 step, steps, nparam, nevals,
 *   payload bytes, u64 checksum of the payload
 *
 *   payload: i64 best_step, f64 best_val, train_time, elapsed,
 *   i64 real_tokens, padded_tokens, f64 flops_train_step,
 *   model_flops_train_step; f32 losses[step]; evals[nevals] of (i64 step,
 *   i64 split, f64 loss, accuracy, elapsed_s); f32 data, m, v, best[nparam] */
#include "ckpt.h"

#include "hash.h"
#include "tmpname.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HDR_BYTES 104
#define KEY_BYTES 40
#define SCALAR_BYTES 64
#define EVAL_BYTES 40
#define BOM 0x01020304u

static const char MAGIC[8] = {'E', 'B', 'C', 'K', 'P', 'T', '\0', '\n'};

typedef struct piece {
  const void *p;
  size_t n;
} piece;

static void put_i64(unsigned char *p, int64_t v) { memcpy(p, &v, 8); }
static void put_f64(unsigned char *p, double v) { memcpy(p, &v, 8); }
static int64_t get_i64(const unsigned char *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}
static double get_f64(const unsigned char *p) {
  double v;
  memcpy(&v, p, 8);
  return v;
}

static void scalars_pack(unsigned char *s, const eb_ckpt *c) {
  put_i64(s, c->best_step);
  put_f64(s + 8, c->best_val);
  put_f64(s + 16, c->train_time);
  put_f64(s + 24, c->elapsed);
  put_i64(s + 32, c->real_tokens);
  put_i64(s + 40, c->padded_tokens);
  put_f64(s + 48, c->flops_train_step);
  put_f64(s + 56, c->model_flops_train_step);
}

static int64_t payload_bytes(int64_t step, int64_t nevals, int64_t nparam) {
  return SCALAR_BYTES + 4 * step + EVAL_BYTES * nevals + 16 * nparam;
}

int eb_ckpt_path(const char *db, const char *run_key, char *out, size_t outlen) {
  int n = snprintf(out, outlen, "%s.ckpt/%s.ckpt", db, run_key);
  return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int eb_ckpt_dir_make(const char *db, char *err, size_t errlen) {
  char dir[4096];
  if (snprintf(dir, sizeof dir, "%s.ckpt", db) >= (int)sizeof dir) {
    snprintf(err, errlen, "%s: path too long for a checkpoint directory", db);
    return -1;
  }
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "%s: cannot create the checkpoint directory: %s", dir,
             strerror(errno));
    return -1;
  }
  eb_tmp_clean(dir, NULL); /* what a killed run was writing */
  return 0;
}

int eb_ckpt_save(const char *path, const char *run_key, const eb_ckpt *c, char *err,
                 size_t errlen) {
  unsigned char hdr[HDR_BYTES], sc[SCALAR_BYTES];
  unsigned char *ev = malloc((size_t)(c->nevals > 0 ? c->nevals : 1) * EVAL_BYTES);
  if (!ev) {
    snprintf(err, errlen, "%s: out of memory writing a checkpoint", path);
    return -1;
  }
  scalars_pack(sc, c);
  for (int i = 0; i < c->nevals; i++) {
    unsigned char *e = ev + (size_t)i * EVAL_BYTES;
    put_i64(e, c->evals[i].step);
    put_i64(e + 8, (int64_t)c->evals[i].split);
    put_f64(e + 16, c->evals[i].loss);
    put_f64(e + 24, c->evals[i].accuracy);
    put_f64(e + 32, c->evals[i].elapsed_s);
  }
  const size_t np = (size_t)c->nparam * sizeof(float);
  const piece pieces[] = {{sc, SCALAR_BYTES},
                          {c->losses, (size_t)c->step * sizeof(float)},
                          {ev, (size_t)c->nevals * EVAL_BYTES},
                          {c->data, np},
                          {c->m, np},
                          {c->v, np},
                          {c->best, np}};
  const int npieces = (int)(sizeof pieces / sizeof *pieces);
  /* FNV-1a over 8-byte words, continued across the pieces */
  uint64_t h = EB_FNV_OFFSET;
  for (int i = 0; i < npieces; i++)
    h = eb_fnv1a_words(h, pieces[i].p, pieces[i].n);
  memset(hdr, 0, sizeof hdr);
  memcpy(hdr, MAGIC, 8);
  uint32_t ver = EB_CKPT_VERSION, bom = BOM;
  memcpy(hdr + 8, &ver, 4);
  memcpy(hdr + 12, &bom, 4);
  snprintf((char *)hdr + 16, KEY_BYTES, "%s", run_key);
  put_i64(hdr + 56, c->step);
  put_i64(hdr + 64, c->steps);
  put_i64(hdr + 72, c->nparam);
  put_i64(hdr + 80, c->nevals);
  put_i64(hdr + 88, payload_bytes(c->step, c->nevals, c->nparam));
  memcpy(hdr + 96, &h, 8);

  char tmp[4200];
  if (eb_tmp_name(path, tmp, sizeof tmp)) {
    free(ev);
    snprintf(err, errlen, "%s: path too long", path);
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  if (fd < 0 && errno == ENOENT) { /* the directory removed (eb_ckpt_dir_drop) */
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) {
      *slash = '\0';
      mkdir(dir, 0777);
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  }
  if (fd < 0) {
    free(ev);
    snprintf(err, errlen, "%s: cannot create: %s", tmp, strerror(errno));
    return -1;
  }
  int ok = 1;
  const piece all[] = {{hdr, HDR_BYTES}, pieces[0], pieces[1], pieces[2],
                       pieces[3],        pieces[4], pieces[5], pieces[6]};
  for (int i = 0; ok && i < (int)(sizeof all / sizeof *all); i++) {
    const char *p = all[i].p;
    size_t left = all[i].n;
    while (ok && left > 0) {
      ssize_t w = write(fd, p, left);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        ok = 0;
        break;
      }
      p += w;
      left -= (size_t)w;
    }
  }
  int saved = errno;
  if (ok && fsync(fd) != 0) ok = 0, saved = errno;
  if (close(fd) != 0 && ok) ok = 0, saved = errno;
  free(ev);
  if (!ok || rename(tmp, path) != 0) {
    if (ok) saved = errno;
    unlink(tmp);
    snprintf(err, errlen, "%s: cannot write the checkpoint: %s", path,
             strerror(saved ? saved : EIO));
    return -1;
  }
  /* the rename itself durable: fsync the directory */
  char dir[4200];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) {
    *slash = '\0';
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  return 0;
}

int eb_ckpt_load(const char *path, const char *run_key, eb_ckpt *c, char *err,
                 size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    if (errno == ENOENT) return 1;
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  unsigned char hdr[HDR_BYTES];
  int rc = -1;
  unsigned char *buf = NULL;
  if (fread(hdr, 1, HDR_BYTES, f) != HDR_BYTES) {
    snprintf(err, errlen, "%s: truncated header", path);
    goto out;
  }
  uint32_t ver, bom;
  memcpy(&ver, hdr + 8, 4);
  memcpy(&bom, hdr + 12, 4);
  char key[KEY_BYTES + 1];
  memcpy(key, hdr + 16, KEY_BYTES);
  key[KEY_BYTES] = '\0';
  const int64_t step = get_i64(hdr + 56), steps = get_i64(hdr + 64),
                nparam = get_i64(hdr + 72), nevals = get_i64(hdr + 80),
                pbytes = get_i64(hdr + 88);
  uint64_t want;
  memcpy(&want, hdr + 96, 8);
  if (memcmp(hdr, MAGIC, 8) || bom != BOM) {
    snprintf(err, errlen, "%s: not an effbench checkpoint", path);
    goto out;
  }
  if (ver != EB_CKPT_VERSION) {
    snprintf(err, errlen, "%s: checkpoint version %u, this build reads %d", path, ver,
             EB_CKPT_VERSION);
    goto out;
  }
  if (strcmp(key, run_key)) {
    snprintf(err, errlen, "%s: checkpoint of run %s, not %s", path, key, run_key);
    goto out;
  }
  if (steps != c->steps || nparam != c->nparam) {
    snprintf(err, errlen,
             "%s: checkpoint of %lld steps and %lld parameter floats, the run has "
             "%d and %lld",
             path, (long long)steps, (long long)nparam, c->steps, (long long)c->nparam);
    goto out;
  }
  /* evaluations: at most one val per step plus a test one */
  if (step < 1 || step > steps || nevals < 0 || nevals > step + 1 ||
      pbytes != payload_bytes(step, nevals, nparam)) {
    snprintf(err, errlen, "%s: inconsistent checkpoint header (step %lld, %lld evals)",
             path, (long long)step, (long long)nevals);
    goto out;
  }
  buf = malloc((size_t)pbytes + 1);
  if (!buf) {
    snprintf(err, errlen, "%s: out of memory reading the checkpoint (%lld bytes)", path,
             (long long)pbytes);
    goto out;
  }
  if (fread(buf, 1, (size_t)pbytes + 1, f) != (size_t)pbytes) {
    snprintf(err, errlen, "%s: checkpoint size differs from its header", path);
    goto out;
  }
  const size_t np = (size_t)nparam * sizeof(float);
  const unsigned char *sc = buf, *losses = sc + SCALAR_BYTES,
                      *ev = losses + (size_t)step * sizeof(float),
                      *data = ev + (size_t)nevals * EVAL_BYTES;
  const piece pieces[] = {{sc, SCALAR_BYTES},
                          {losses, (size_t)step * sizeof(float)},
                          {ev, (size_t)nevals * EVAL_BYTES},
                          {data, np},
                          {data + np, np},
                          {data + 2 * np, np},
                          {data + 3 * np, np}};
  uint64_t h = EB_FNV_OFFSET;
  for (int i = 0; i < (int)(sizeof pieces / sizeof *pieces); i++)
    h = eb_fnv1a_words(h, pieces[i].p, pieces[i].n);
  if (h != want) {
    snprintf(err, errlen, "%s: checksum mismatch (corrupt checkpoint)", path);
    goto out;
  }
  eb_eval_point *evals = malloc((size_t)(nevals > 0 ? nevals : 1) * sizeof *evals);
  if (!evals) {
    snprintf(err, errlen, "%s: out of memory reading the checkpoint", path);
    goto out;
  }
  for (int64_t i = 0; i < nevals; i++) {
    const unsigned char *e = ev + (size_t)i * EVAL_BYTES;
    evals[i].step = (int)get_i64(e);
    evals[i].split = (eb_split)get_i64(e + 8);
    evals[i].loss = get_f64(e + 16);
    evals[i].accuracy = get_f64(e + 24);
    evals[i].elapsed_s = get_f64(e + 32);
  }
  c->step = (int)step;
  c->best_step = (int)get_i64(sc);
  c->best_val = get_f64(sc + 8);
  c->train_time = get_f64(sc + 16);
  c->elapsed = get_f64(sc + 24);
  c->real_tokens = get_i64(sc + 32);
  c->padded_tokens = get_i64(sc + 40);
  c->flops_train_step = get_f64(sc + 48);
  c->model_flops_train_step = get_f64(sc + 56);
  memcpy(c->losses, losses, (size_t)step * sizeof(float));
  memcpy(c->data, data, np);
  memcpy(c->m, data + np, np);
  memcpy(c->v, data + 2 * np, np);
  memcpy(c->best, data + 3 * np, np);
  c->nevals = (int)nevals;
  c->evals = evals;
  rc = 0;
out:
  free(buf);
  fclose(f);
  return rc;
}

void eb_ckpt_dir_drop(const char *db) {
  char dir[4096];
  if (snprintf(dir, sizeof dir, "%s.ckpt", db) < (int)sizeof dir) rmdir(dir);
}
