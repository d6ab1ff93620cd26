#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "hash.h"
#include "tmpname.h"

/* version 2: a checksum of the header and payload (version 1 had none, so an
 * old cache reads as foreign and is rebuilt) */
#define CACHE_MAGIC "EBDS0002"
#define ALIGN 64

static size_t tok_bytes(const eb_split_data *s) {
  return (size_t)s->n * (size_t)s->max_len * (s->wide ? 2u : 1u);
}

int eb_split_alloc(eb_split_data *s, int64_t n, int max_len, int wide, int pair,
                   char *err, size_t errlen) {
  memset(s, 0, sizeof *s);
  if (n < 0 || max_len < 1) {
    snprintf(err, errlen, "invalid split size %lld x %d", (long long)n, max_len);
    return -1;
  }
  s->n = n;
  s->max_len = max_len;
  s->wide = wide;
  s->pair = pair;
  size_t nb = tok_bytes(s) ? tok_bytes(s) : 1, nn = n ? (size_t)n : 1;
  s->tok = calloc(1, nb);
  s->len = calloc(nn, sizeof *s->len);
  s->labels = calloc(nn, sizeof *s->labels);
  if (pair) {
    s->tok2 = calloc(1, nb);
    s->len2 = calloc(nn, sizeof *s->len2);
  }
  if (!s->tok || !s->len || !s->labels || (pair && (!s->tok2 || !s->len2))) {
    snprintf(err, errlen, "out of memory for %lld examples of length %d", (long long)n,
             max_len);
    return -1;
  }
  return 0;
}

static void put_row(const eb_split_data *s, void *base, int64_t i, const int32_t *tok,
                    int len) {
  size_t off = (size_t)i * (size_t)s->max_len;
  for (int t = 0; t < s->max_len; t++) {
    int32_t v = t < len ? tok[t] : 0;
    if (s->wide)
      ((uint16_t *)base)[off + t] = (uint16_t)v;
    else
      ((uint8_t *)base)[off + t] = (uint8_t)v;
  }
}

void eb_split_set(eb_split_data *s, int64_t i, const int32_t *tok, int len,
                  const int32_t *tok2, int len2, int32_t label) {
  if (len > s->max_len) len = s->max_len;
  put_row(s, s->tok, i, tok, len);
  s->len[i] = len;
  s->labels[i] = label;
  if (s->pair) {
    if (len2 > s->max_len) len2 = s->max_len;
    put_row(s, s->tok2, i, tok2, len2);
    s->len2[i] = len2;
  }
}

int32_t eb_split_token(const eb_split_data *s, int64_t i, int t, int second) {
  const void *base = second ? s->tok2 : s->tok;
  size_t off = (size_t)i * (size_t)s->max_len + (size_t)t;
  return s->wide ? ((const uint16_t *)base)[off] : ((const uint8_t *)base)[off];
}

/* permutation of the train split for one epoch (Fisher-Yates, seeded) */
static int ensure_perm(eb_split_data *s, int64_t epoch, uint64_t seed) {
  if (!s->perm) {
    s->perm = malloc((size_t)(s->n ? s->n : 1) * sizeof *s->perm);
    if (!s->perm) return -1;
    s->perm_epoch = -1;
  }
  if (s->perm_epoch == epoch && s->perm_seed == seed) return 0;
  for (int64_t i = 0; i < s->n; i++)
    s->perm[i] = i;
  eb_rng r = eb_rng_make(seed, 0xE90C0000ull + (uint64_t)epoch);
  for (int64_t i = s->n - 1; i > 0; i--) {
    int64_t j = (int64_t)(eb_rng_u64(&r) % (uint64_t)(i + 1));
    int64_t t = s->perm[i];
    s->perm[i] = s->perm[j];
    s->perm[j] = t;
  }
  s->perm_epoch = epoch;
  s->perm_seed = seed;
  return 0;
}

static void get_row(const eb_split_data *s, const void *base, const int32_t *lens,
                    int64_t i, int N, int32_t *tok, uint8_t *mask, int64_t *real) {
  int len = lens[i] < N ? lens[i] : N;
  for (int t = 0; t < N; t++) {
    int in = t < len && t < s->max_len;
    size_t off = (size_t)i * (size_t)s->max_len + (size_t)t;
    tok[t] =
        in ? (s->wide ? ((const uint16_t *)base)[off] : ((const uint8_t *)base)[off]) : 0;
    mask[t] = (uint8_t)in;
  }
  *real += len;
}

int eb_dataset_batch(eb_dataset *d, eb_split split, int64_t index, uint64_t epoch_seed,
                     eb_batch *out, char *err, size_t errlen) {
  eb_split_data *s = &d->split[split];
  if (s->n < 1) {
    snprintf(err, errlen, "the %s split is empty",
             split == EB_SPLIT_TRAIN ? "train"
             : split == EB_SPLIT_VAL ? "val"
                                     : "test");
    return -1;
  }
  if (out->N != s->max_len) {
    snprintf(err, errlen, "batch length %d differs from the data's %d", out->N,
             s->max_len);
    return -1;
  }
  if (s->pair && (!out->tokens2 || !out->mask2)) {
    snprintf(err, errlen, "pair data needs a batch with a second sequence");
    return -1;
  }
  out->real_tokens = 0;
  for (int b = 0; b < out->B; b++) {
    int64_t k = index * out->B + b;
    int64_t i = k % s->n;
    if (split == EB_SPLIT_TRAIN) {
      if (ensure_perm(s, k / s->n, epoch_seed)) {
        snprintf(err, errlen, "out of memory shuffling %lld examples", (long long)s->n);
        return -1;
      }
      i = s->perm[i];
    }
    size_t o = (size_t)b * (size_t)out->N;
    get_row(s, s->tok, s->len, i, out->N, out->tokens + o, out->mask + o,
            &out->real_tokens);
    if (s->pair)
      get_row(s, s->tok2, s->len2, i, out->N, out->tokens2 + o, out->mask2 + o,
              &out->real_tokens);
    out->labels[b] = s->labels[i];
  }
  return 0;
}

/* ------------------------------------------------------------- cache ---- */
typedef struct cache_header {
  char magic[8];
  int32_t vocab, classes, max_len, mode;
  struct {
    int64_t n;
    int32_t max_len, wide, pair, pad;
  } split[3];
  uint64_t checksum; /* cache_sum of the whole file with this field zero */
} cache_header;

/* Process-wide cache warnings (the library does not print): the last one, and
 * an optional callback main sets to print it. */
static char cache_warning[EB_ERR_LEN + 64];
static eb_dataset_warn_fn cache_warn_fn;

void eb_dataset_set_warn(eb_dataset_warn_fn fn) { cache_warn_fn = fn; }
const char *eb_dataset_last_warning(void) { return cache_warning; }

static void warn(const char *msg) {
  snprintf(cache_warning, sizeof cache_warning, "%s", msg);
  if (cache_warn_fn) cache_warn_fn(cache_warning);
}

/* Checksum of a cache file image of `bytes` bytes (a multiple of 64: the
 * header and every section are padded to 64): four lanes of 64-bit words, each
 * step h = (h ^ w) * odd, then rotated; every step is a bijection of h, so a
 * change confined to one word (any flipped bits within 8 bytes) always changes
 * the sum, and wider damage is missed with probability about 2^-64. The
 * header's checksum field counts as zero. Word loads by memcpy (no alignment
 * assumption); about 2-4 GB/s, a small cost next to building the data. */
static uint64_t cache_sum(const unsigned char *p, size_t bytes) {
  uint64_t h[4] = {0x9E3779B97F4A7C15ull, 0xC2B2AE3D27D4EB4Full, 0x165667B19E3779F9ull,
                   0x27D4EB2F165667C5ull};
  const uint64_t mul = 0xFF51AFD7ED558CCDull;
  cache_header hd;
  memcpy(&hd, p, sizeof hd);
  hd.checksum = 0;
  for (size_t off = 0; off + 32 <= bytes; off += 32)
    for (int l = 0; l < 4; l++) {
      uint64_t w;
      size_t at = off + 8 * (size_t)l;
      if (at + 8 <= sizeof hd)
        memcpy(&w, (const unsigned char *)&hd + at, 8);
      else
        memcpy(&w, p + at, 8);
      h[l] = (h[l] ^ w) * mul;
      h[l] = (h[l] << 29) | (h[l] >> 35);
    }
  uint64_t r = (uint64_t)bytes;
  for (int l = 0; l < 4; l++)
    r = (r ^ h[l]) * 0x9E3779B97F4A7C15ull;
  return r ^ (r >> 31);
}

static size_t up(size_t x) { return (x + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* bytes of each section of a split, in file order */
static void sections(const eb_split_data *s, size_t sz[5]) {
  size_t nn = (size_t)s->n;
  sz[0] = up(tok_bytes(s));
  sz[1] = s->pair ? up(tok_bytes(s)) : 0;
  sz[2] = up(nn * 4);
  sz[3] = s->pair ? up(nn * 4) : 0;
  sz[4] = up(nn * 4);
}

int eb_dataset_reseal(void *file, size_t bytes) {
  if (bytes < up(sizeof(cache_header)) || bytes % ALIGN) return -1;
  uint64_t sum = cache_sum(file, bytes);
  memcpy((char *)file + offsetof(cache_header, checksum), &sum, sizeof sum);
  return 0;
}

/* Compute the checksum of the written file and store it in its header. */
static int stamp_checksum(const char *path) {
  int fd = open(path, O_RDWR);
  if (fd < 0) return -1;
  struct stat st;
  int rc = -1;
  if (fstat(fd, &st) == 0 && (size_t)st.st_size >= up(sizeof(cache_header)) &&
      (size_t)st.st_size % ALIGN == 0) {
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      uint64_t sum = cache_sum(map, (size_t)st.st_size);
      munmap(map, (size_t)st.st_size);
      if (pwrite(fd, &sum, sizeof sum, offsetof(cache_header, checksum)) ==
          (ssize_t)sizeof sum)
        rc = 0;
    }
  }
  if (close(fd) != 0) rc = -1;
  return rc;
}

int eb_dataset_save(const eb_dataset *d, const char *path, char *err, size_t errlen) {
  char tmp[4096];
  if (eb_tmp_name(path, tmp, sizeof tmp)) {
    snprintf(err, errlen, "%s: path too long", path);
    return -1;
  }
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
    return -1;
  }
  cache_header h;
  memset(&h, 0, sizeof h);
  memcpy(h.magic, CACHE_MAGIC, 8);
  h.vocab = d->info.vocab;
  h.classes = d->info.classes;
  h.max_len = d->info.max_len;
  h.mode = d->info.mode;
  for (int k = 0; k < 3; k++) {
    h.split[k].n = d->split[k].n;
    h.split[k].max_len = d->split[k].max_len;
    h.split[k].wide = d->split[k].wide;
    h.split[k].pair = d->split[k].pair;
  }
  static const char zeros[ALIGN] = {0};
  int ok = fwrite(&h, sizeof h, 1, f) == 1 &&
           fwrite(zeros, 1, up(sizeof h) - sizeof h, f) == up(sizeof h) - sizeof h;
  for (int k = 0; ok && k < 3; k++) {
    const eb_split_data *s = &d->split[k];
    size_t sz[5], raw[5] = {tok_bytes(s), s->pair ? tok_bytes(s) : 0, (size_t)s->n * 4,
                            s->pair ? (size_t)s->n * 4 : 0, (size_t)s->n * 4};
    const void *src[5] = {s->tok, s->tok2, s->len, s->len2, s->labels};
    sections(s, sz);
    for (int j = 0; ok && j < 5; j++) {
      if (!sz[j]) continue;
      ok = fwrite(src[j], 1, raw[j], f) == raw[j] &&
           fwrite(zeros, 1, sz[j] - raw[j], f) == sz[j] - raw[j];
    }
  }
  if (fclose(f) != 0) ok = 0;
  if (ok) ok = !stamp_checksum(tmp);
  if (!ok || rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
    remove(tmp);
    return -1;
  }
  return 0;
}

/* The content of a cache whose checksum matched: the header's shape is sane and
 * every row lies in it (lengths within the row, tokens below the vocabulary,
 * labels below the classes), so a file written by another build or damaged
 * before its checksum was stamped is refused rather than trusted. 0, or -1
 * with what is wrong in why. One pass over the file, next to the checksum's. */
static int cache_content_ok(const cache_header *h, const eb_dataset *d, char *why,
                            size_t whylen) {
  if (h->vocab < 2 || h->classes < 1 || h->max_len < 1 ||
      (h->mode != EB_INPUT_SINGLE && h->mode != EB_INPUT_PAIR)) {
    snprintf(why, whylen, "header: vocab %d, classes %d, max_len %d, mode %d", h->vocab,
             h->classes, h->max_len, h->mode);
    return -1;
  }
  static const char *const names[3] = {"train", "val", "test"};
  for (int k = 0; k < 3; k++) {
    const eb_split_data *sp = &d->split[k];
    /* a pair task's batches read both sequences (a single one's ignores a second) */
    if (h->mode == EB_INPUT_PAIR && !sp->pair) {
      snprintf(why, whylen, "%s split: one sequence per example, the task has pairs",
               names[k]);
      return -1;
    }
    for (int64_t i = 0; i < sp->n; i++) {
      if (sp->labels[i] < 0 || sp->labels[i] >= h->classes) {
        snprintf(why, whylen, "%s example %lld: label %d outside 0..%d", names[k],
                 (long long)i, sp->labels[i], h->classes - 1);
        return -1;
      }
      for (int second = 0; second <= sp->pair; second++) {
        const int32_t len = second ? sp->len2[i] : sp->len[i];
        if (len < 0 || len > sp->max_len) {
          snprintf(why, whylen, "%s example %lld: length %d outside 0..%d", names[k],
                   (long long)i, len, sp->max_len);
          return -1;
        }
        for (int t = 0; t < sp->max_len; t++) {
          const int32_t v = eb_split_token(sp, i, t, second);
          if (v >= h->vocab) {
            snprintf(why, whylen, "%s example %lld: token %d at %d, vocabulary %d",
                     names[k], (long long)i, v, t, h->vocab);
            return -1;
          }
        }
      }
    }
  }
  return 0;
}

int eb_dataset_load(eb_dataset *d, const char *path, char *err, size_t errlen) {
  memset(d, 0, sizeof *d);
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || (size_t)st.st_size < up(sizeof(cache_header))) {
    close(fd);
    snprintf(err, errlen, "%s: not an effbench data cache (too short)", path);
    return -1;
  }
  void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
    return -1;
  }
  cache_header h;
  memcpy(&h, map, sizeof h);
  size_t off = up(sizeof h);
  int bad = memcmp(h.magic, CACHE_MAGIC, 8) != 0;
  for (int k = 0; !bad && k < 3; k++) {
    eb_split_data *s = &d->split[k];
    s->n = h.split[k].n;
    s->max_len = h.split[k].max_len;
    s->wide = h.split[k].wide;
    s->pair = h.split[k].pair;
    if (s->n < 0 || s->max_len < 1 || s->n > ((int64_t)1 << 40) ||
        s->max_len > (1 << 24)) {
      bad = 1;
      break;
    }
    size_t sz[5];
    sections(s, sz);
    void **dst[5] = {&s->tok, &s->tok2, (void **)&s->len, (void **)&s->len2,
                     (void **)&s->labels};
    for (int j = 0; j < 5; j++) {
      if (!sz[j]) continue;
      if (off + sz[j] > (size_t)st.st_size) {
        bad = 1;
        break;
      }
      *dst[j] = (char *)map + off;
      off += sz[j];
    }
  }
  if (bad || off != (size_t)st.st_size) {
    munmap(map, (size_t)st.st_size);
    memset(d, 0, sizeof *d);
    snprintf(err, errlen, "%s: damaged or foreign data cache (delete it to regenerate)",
             path);
    return -1;
  }
  uint64_t sum = cache_sum(map, (size_t)st.st_size);
  if (sum != h.checksum) {
    munmap(map, (size_t)st.st_size);
    memset(d, 0, sizeof *d);
    snprintf(err, errlen,
             "%s: corrupt data cache (checksum %016llx, the header says %016llx; delete "
             "it to regenerate)",
             path, (unsigned long long)sum, (unsigned long long)h.checksum);
    return -1;
  }
  char why[160];
  if (cache_content_ok(&h, d, why, sizeof why)) {
    munmap(map, (size_t)st.st_size);
    memset(d, 0, sizeof *d);
    snprintf(err, errlen,
             "%s: damaged or foreign data cache (%s; delete it to regenerate)", path,
             why);
    return -1;
  }
  d->info.vocab = h.vocab;
  d->info.classes = h.classes;
  d->info.max_len = h.max_len;
  d->info.mode = (eb_input_mode)h.mode;
  d->info.n_train = d->split[0].n;
  d->info.n_val = d->split[1].n;
  d->info.n_test = d->split[2].n;
  d->map = map;
  d->map_bytes = (size_t)st.st_size;
  return 0;
}

void eb_dataset_free(eb_dataset *d) {
  for (int k = 0; k < 3; k++) {
    eb_split_data *s = &d->split[k];
    if (!d->map) {
      free(s->tok);
      free(s->tok2);
      free(s->len);
      free(s->len2);
      free(s->labels);
    }
    free(s->perm);
  }
  if (d->map) munmap(d->map, d->map_bytes);
  eb_source_free(&d->src);
  memset(d, 0, sizeof *d);
}

static int mkdirs(char *path) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int rc = mkdir(path, 0777);
    *p = '/';
    if (rc != 0 && errno != EEXIST) return -1;
  }
  return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

int eb_cache_dir(char *buf, size_t len, char *err, size_t errlen) {
  const char *e = getenv("EFFBENCH_CACHE"), *x = getenv("XDG_CACHE_HOME"),
             *home = getenv("HOME");
  if (e && *e)
    snprintf(buf, len, "%s", e);
  else if (x && *x)
    snprintf(buf, len, "%s/effbench", x);
  else if (home && *home)
    snprintf(buf, len, "%s/.cache/effbench", home);
  else
    snprintf(buf, len, ".effbench-cache");
  if (mkdirs(buf) != 0) {
    snprintf(err, errlen, "cache directory %s: %s (set EFFBENCH_CACHE)", buf,
             strerror(errno));
    return -1;
  }
  /* once per process and directory: what killed writers left half-written */
  static char cleaned[4096];
  if (strcmp(cleaned, buf)) {
    eb_tmp_clean(buf, NULL);
    snprintf(cleaned, sizeof cleaned, "%s", buf);
  }
  return 0;
}

/* FNV-1a of one field of the key, ended by a 0xFF byte (no text holds one),
 * so that "ab" + "c" and "a" + "bc" differ */
static uint64_t fnv(uint64_t h, const char *s) {
  return eb_fnv1a(eb_fnv1a_str(h, s), "\xff", 1);
}

int eb_cache_path(const char *task, const eb_args *args, uint64_t seed,
                  const char *generator_version, char *buf, size_t len, char *err,
                  size_t errlen) {
  char dir[3072];
  if (eb_cache_dir(dir, sizeof dir, err, errlen)) return -1;
  /* FNV-1a over a canonical text of the settings */
  uint64_t h = fnv(EB_FNV_SEED, task);
  h = fnv(h, generator_version ? generator_version : "");
  char text[256];
  snprintf(text, sizeof text, "seed=%llu", (unsigned long long)seed);
  h = fnv(h, text);
  for (int i = 0; args && i < args->n; i++) {
    const eb_arg *a = &args->v[i];
    /* canonical values, so "64" and "064" share a cache entry */
    switch (a->type) {
    case EB_P_INT:
      snprintf(text, sizeof text, "%s=%lld", a->name, (long long)a->i);
      break;
    case EB_P_FLOAT: snprintf(text, sizeof text, "%s=%.17g", a->name, a->f); break;
    case EB_P_BOOL:
      snprintf(text, sizeof text, "%s=%s", a->name, a->i ? "true" : "false");
      break;
    default: snprintf(text, sizeof text, "%s=", a->name); break;
    }
    h = fnv(h, text);
    if (a->type == EB_P_STRING) h = fnv(h, a->s ? a->s : "");
  }
  snprintf(buf, len, "%s/%s-%016llx.ebds", dir, task, (unsigned long long)h);
  return 0;
}

int eb_dataset_cached_fit(const char *task, const eb_args *args, uint64_t seed,
                          const char *version, eb_dataset *d, eb_dataset_build_fn build,
                          eb_dataset_fits_fn fits, void *user, char *err, size_t errlen) {
  char cache[4096], cerr[EB_ERR_LEN];
  int have_path =
      !eb_cache_path(task, args, seed, version, cache, sizeof cache, cerr, sizeof cerr);
  if (have_path && !eb_dataset_load(d, cache, cerr, sizeof cerr)) {
    if (!fits || fits(user, d)) return 0;
    eb_dataset_free(d); /* foreign or stale: rebuild and replace it */
  } else if (have_path && access(cache, F_OK) == 0) {
    /* there but unreadable, damaged or corrupt: say so, then rebuild it */
    char msg[EB_ERR_LEN + 64];
    snprintf(msg, sizeof msg, "%s; rebuilding it from the source data", cerr);
    warn(msg);
  }
  int rc = build(user, d, err, errlen);
  if (!rc && have_path) eb_dataset_save(d, cache, cerr, sizeof cerr);
  return rc;
}

int eb_dataset_cached(const char *task, const eb_args *args, uint64_t seed,
                      const char *version, eb_dataset *d, eb_dataset_build_fn build,
                      void *user, char *err, size_t errlen) {
  return eb_dataset_cached_fit(task, args, seed, version, d, build, NULL, user, err,
                               errlen);
}

int eb_file_stamp(const char *path, char *buf, size_t len) {
  struct stat st;
  if (stat(path, &st) != 0) return -1;
  size_t o = strlen(buf);
  if (o < len)
    snprintf(buf + o, len - o, " %lld:%lld.%09ld:%llu", (long long)st.st_size,
             (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
             (unsigned long long)st.st_ino);
  return 0;
}

int eb_out_dir(const char *dir, char *err, size_t errlen) {
  if (eb_mkdirs(dir, err, errlen)) return -1;
  DIR *D = opendir(dir);
  if (!D) {
    snprintf(err, errlen, "%s: cannot open: %s", dir, strerror(errno));
    return -1;
  }
  int empty = 1;
  struct dirent *e;
  while (empty && (e = readdir(D)))
    empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
  closedir(D);
  if (!empty) {
    snprintf(err, errlen, "%s: not empty (write into a new directory)", dir);
    return -1;
  }
  return 0;
}
