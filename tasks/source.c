/* realpath */
#define _XOPEN_SOURCE 700
#include "source.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carve.h"
#include "files.h"
#include "hash.h"
#include "dataset.h"
#include "json.h"
#include "tmpname.h"

/* ------------------------------------------------------------ SHA-256 -- */
/* FIPS 180-4, section 6.2. */
typedef struct sha256 {
  uint32_t h[8];
  uint8_t block[64];
  size_t fill;
  uint64_t total;
} sha256;

static const uint32_t SHA_K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return x >> n | x << (32 - n); }

static void sha_init(sha256 *c) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, h0, sizeof h0);
  c->fill = 0;
  c->total = 0;
}

static void sha_block(sha256 *c, const uint8_t *p) {
  uint32_t w[64];
  for (int t = 0; t < 16; t++)
    w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
           (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = ror(w[t - 15], 7) ^ ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = ror(w[t - 2], 17) ^ ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5],
           g = c->h[6], h = c->h[7];
  for (int t = 0; t < 64; t++) {
    uint32_t S1 = ror(e, 6) ^ ror(e, 11) ^ ror(e, 25);
    uint32_t ch = (e & f) ^ (~e & g);
    uint32_t t1 = h + S1 + ch + SHA_K[t] + w[t];
    uint32_t S0 = ror(a, 2) ^ ror(a, 13) ^ ror(a, 22);
    uint32_t maj = (a & b) ^ (a & cc) ^ (b & cc);
    uint32_t t2 = S0 + maj;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = cc;
    cc = b;
    b = a;
    a = t1 + t2;
  }
  c->h[0] += a;
  c->h[1] += b;
  c->h[2] += cc;
  c->h[3] += d;
  c->h[4] += e;
  c->h[5] += f;
  c->h[6] += g;
  c->h[7] += h;
}

static void sha_update(sha256 *c, const void *data, size_t n) {
  const uint8_t *p = data;
  c->total += n;
  if (c->fill) {
    size_t take = 64 - c->fill < n ? 64 - c->fill : n;
    memcpy(c->block + c->fill, p, take);
    c->fill += take;
    p += take;
    n -= take;
    if (c->fill < 64) return;
    sha_block(c, c->block);
    c->fill = 0;
  }
  for (; n >= 64; p += 64, n -= 64)
    sha_block(c, p);
  memcpy(c->block, p, n);
  c->fill = n;
}

static void sha_final(sha256 *c, char hex[65]) {
  uint64_t bits = c->total * 8;
  uint8_t pad[72] = {0x80};
  size_t padn = (c->fill < 56 ? 56 : 120) - c->fill;
  uint8_t len[8];
  for (int i = 0; i < 8; i++)
    len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha_update(c, pad, padn);
  sha_update(c, len, 8);
  for (int i = 0; i < 8; i++)
    snprintf(hex + 8 * i, 9, "%08x", (unsigned)c->h[i]);
}

void eb_sha256_hex(const void *data, size_t n, char hex[65]) {
  sha256 c;
  sha_init(&c);
  sha_update(&c, data, n);
  sha_final(&c, hex);
}

int eb_sha256_file(const char *path, char hex[65], int64_t *bytes, char *err,
                   size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  sha256 c;
  sha_init(&c);
  static _Thread_local uint8_t buf[1 << 16];
  size_t got;
  while ((got = fread(buf, 1, sizeof buf, f)) > 0)
    sha_update(&c, buf, got);
  int bad = ferror(f);
  fclose(f);
  if (bad) {
    snprintf(err, errlen, "%s: read error at byte offset %llu", path,
             (unsigned long long)c.total);
    return -1;
  }
  *bytes = (int64_t)c.total;
  sha_final(&c, hex);
  return 0;
}

void eb_source_free(eb_source_info *s) {
  free(s->detail);
  memset(s, 0, sizeof *s);
}

const eb_data_source *eb_source_get(const eb_source_info *s) {
  return s->pub.kind ? &s->pub : NULL;
}

static int finish(eb_source_info *s, const char *kind, eb_sbuf *detail, char *err,
                  size_t errlen) {
  if (detail->oom || !detail->p) {
    free(detail->p);
    snprintf(err, errlen, "out of memory describing the data source");
    return -1;
  }
  free(s->detail);
  s->detail = detail->p;
  snprintf(s->kind, sizeof s->kind, "%s", kind);
  s->pub.kind = s->kind;
  s->pub.label = s->label;
  s->pub.detail = s->detail;
  return 0;
}

int eb_source_generated(eb_source_info *s, const char *generator, const char *rule,
                        uint64_t seed, const eb_args *args, char *err, size_t errlen) {
  eb_sbuf b = {0};
  eb_json w;
  eb_json_init(&w, &b);
  eb_json_open(&w, '{');
  eb_json_key(&w, "generator");
  eb_json_string(&w, generator ? generator : "");
  if (rule) {
    eb_json_key(&w, "rule");
    eb_json_string(&w, rule);
  }
  eb_json_key(&w, "seed");
  eb_json_rawf(&w, "%llu", (unsigned long long)seed);
  eb_json_key(&w, "params");
  eb_json_open(&w, '{');
  for (int i = 0; args && i < args->n; i++) {
    const eb_arg *a = &args->v[i];
    eb_json_key(&w, a->name);
    switch (a->type) {
    case EB_P_INT: eb_json_int(&w, (long long)a->i); break;
    case EB_P_FLOAT: eb_json_rawf(&w, "%.17g", a->f); break; /* as it always was */
    case EB_P_BOOL: eb_json_bool(&w, a->i != 0); break;
    default: eb_json_string(&w, a->s ? a->s : ""); break;
    }
  }
  eb_json_close(&w);
  eb_json_close(&w);
  snprintf(s->label, sizeof s->label, "generated%s%s, seed %llu", rule ? " " : "",
           rule ? rule : "", (unsigned long long)seed);
  return finish(s, "generated", &b, err, errlen);
}

/* ------------------------------------------------------------ files ---- */
typedef struct fent {
  const char *path; /* as given */
  const char *rel;  /* relative to the root, for the manifest */
} fent;

static int cmp_fent(const void *a, const void *b) {
  return strcmp(((const fent *)a)->rel, ((const fent *)b)->rel);
}

/* memo file of the detail for these files, keyed by their stamps */
static int memo_path(const char *kind, const char *root, const fent *f, int64_t n,
                     char *out, size_t len) {
  uint64_t h = eb_hash_str(EB_FNV_SEED, "source-v1");
  h = eb_hash_str(h, kind);
  h = eb_hash_str(h, root);
  char text[4096 + 128];
  for (int64_t i = 0; i < n; i++) {
    snprintf(text, sizeof text, "\n%s", f[i].path);
    if (eb_file_stamp(f[i].path, text, sizeof text)) return -1;
    h = eb_hash_str(h, text);
  }
  char dir[3072], e[EB_ERR_LEN];
  if (eb_cache_dir(dir, sizeof dir, e, sizeof e)) return -1;
  snprintf(out, len, "%s/source-%016llx.json", dir, (unsigned long long)h);
  return 0;
}

int eb_source_files(eb_source_info *s, const char *kind, const char *label,
                    const char *root, const char *const *files, int64_t n, char *err,
                    size_t errlen) {
  char real[PATH_MAX];
  if (!realpath(root, real)) snprintf(real, sizeof real, "%s", root);
  fent *f = malloc((size_t)(n ? n : 1) * sizeof *f);
  if (!f) {
    snprintf(err, errlen, "out of memory describing the data source");
    return -1;
  }
  size_t rl = strlen(root);
  for (int64_t i = 0; i < n; i++) {
    f[i].path = files[i];
    f[i].rel = files[i];
    if (rl && !strncmp(files[i], root, rl) && files[i][rl] == '/')
      f[i].rel += rl + 1;
    else if (!strcmp(files[i], root)) {
      const char *base = strrchr(files[i], '/');
      f[i].rel = base ? base + 1 : files[i];
    }
  }
  qsort(f, (size_t)n, sizeof *f, cmp_fent);
  char memo[4096];
  int have_memo = !memo_path(kind, real, f, n, memo, sizeof memo);
  eb_sbuf b = {0};
  char digest[65] = "";
  if (have_memo) { /* "<manifest sha256>\n<detail JSON>" */
    unsigned char *text = NULL;
    size_t tn = 0;
    char e[EB_ERR_LEN];
    if (!eb_read_file(memo, &text, &tn, e, sizeof e)) {
      char *nl = memchr(text, '\n', tn);
      if (nl && nl - (char *)text == 64 && tn > 66 && text[65] == '{') {
        memcpy(digest, text, 64);
        digest[64] = '\0';
        eb_sb_add(&b, "%s", (char *)text + 65);
      }
      free(text);
    }
  }
  if (!b.p) {
    eb_sbuf manifest = {0}, list = {0};
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
      char hex[65];
      int64_t bytes;
      if (eb_sha256_file(f[i].path, hex, &bytes, err, errlen)) {
        free(manifest.p);
        free(list.p);
        free(f);
        return -1;
      }
      total += bytes;
      eb_sb_add(&manifest, "%s  %s\n", hex, f[i].rel);
      if (n <= EB_SOURCE_LIST_MAX) {
        eb_sb_add(&list, "%s{\"path\":", i ? "," : "");
        eb_json_quote(&list, f[i].rel);
        eb_sb_add(&list, ",\"bytes\":%lld,\"sha256\":\"%s\"}", (long long)bytes, hex);
      }
    }
    eb_sha256_hex(manifest.p ? manifest.p : "", manifest.n, digest);
    eb_sb_add(&b, "{\"root\":");
    eb_json_quote(&b, real);
    eb_sb_add(&b, ",\"count\":%lld,\"bytes\":%lld,\"sha256\":\"%s\"", (long long)n,
              (long long)total, digest);
    if (n <= EB_SOURCE_LIST_MAX) eb_sb_add(&b, ",\"files\":[%s]", list.p ? list.p : "");
    eb_sb_add(&b, "}");
    int oom = manifest.oom || list.oom;
    free(manifest.p);
    free(list.p);
    if (oom) b.oom = 1;
    if (have_memo && !b.oom) { /* best effort, atomically */
      char tmp[4200] = "", e[EB_ERR_LEN];
      eb_sbuf m = {0};
      eb_sb_add(&m, "%s\n%s", digest, b.p);
      if (eb_tmp_name(memo, tmp, sizeof tmp) || m.oom ||
          eb_write_file(tmp, m.p, m.n, e, sizeof e) || rename(tmp, memo))
        remove(tmp);
      free(m.p);
    }
  }
  free(f);
  snprintf(s->label, sizeof s->label, "%s, sha256 %.8s", label, digest);
  return finish(s, kind, &b, err, errlen);
}

/* -------------------------------------------------------- path lists --- */
void eb_path_list_add(eb_path_list *l, const char *path) {
  if (l->oom) return;
  if (l->n == l->cap) {
    int64_t cap = l->cap ? 2 * l->cap : 64;
    char **v = realloc(l->v, (size_t)cap * sizeof *v);
    if (!v) {
      l->oom = 1;
      return;
    }
    l->v = v;
    l->cap = cap;
  }
  if (!(l->v[l->n] = strdup(path))) {
    l->oom = 1;
    return;
  }
  l->n++;
}

void eb_path_list_free(eb_path_list *l) {
  for (int64_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  memset(l, 0, sizeof *l);
}
