/* pathfinder / pathx: LRA's Pathfinder task (Linsley et al., 2018): is there
 * a dashed contour joining the two dots of an image? Pixels are the tokens.
 *
 * Generator. Every image has two target contours and `distractors` more.
 * A contour is a chain of `contour_length` paddles (straight strokes of
 * `paddle_length` pixels), each turned from the previous one by at most
 * MAX_TURN radians (bounded curvature) and started `gap` + 1 pixels further
 * along, so the contour is dashed. Label 1: the two dots sit at both ends of
 * target contour A. Label 0: one dot at the start of A, one at the start of
 * B. Both classes thus have the same number of contours and dots. A pixel of
 * one contour (dots included) is never within the link radius (gap + 1,
 * Chebyshev) of another contour's pixel, while consecutive paddles always
 * are: connectivity, and so the label, holds by construction (tests verify
 * it with a flood fill). Strokes are 255 on 0, no anti-aliasing. Example i of
 * a split is a pure function of (seed, split, i).
 *
 * Tokens: intensity v (0..255) is token v + 1, vocabulary 257 (0 = padding);
 * the cache stores the raw bytes (one byte per pixel) and batch() adds the 1.
 *
 * Official layout (`path`), as LRA distributes it:
 *
 *   DIR/curv_X/metadata/<b>.npy   text files, the .npy name notwithstanding,
 *                                 one example per line:
 *                                 "imgs/<b> sample_<i>.png <i> <label>"
 *   DIR/curv_X/imgs/<b>/sample_<i>.png
 *                                 the image (fields 1 and 2 of the line), an
 *                                 8-bit grayscale PNG of size x size
 *
 * Metadata files are read in numeric order of <b>, lines in file order. The
 * examples are split in that order into train, val and test: 80/10/10 (LRA's
 * split), or by explicit counts, where a 0 count takes its default share. `path`
 * may be a curv_X directory itself, or hold several (chosen by `curv`, else
 * curv_contour_length_<contour_length>, curv_baseline for 6, else the only
 * one).
 *
 * Caching (best effort, eb_dataset_cached): generated sets are keyed by the
 * seed and parameters; a loaded layout by its curv_X directory, the metadata
 * lines and each PNG's size, modification time (ns) and inode (stat only), so
 * replacing an image is noticed without reading the images.
 *
 * write() produces this layout (1000 images per subdirectory) in
 * DIR/curv_contour_length_<contour_length> (curv_baseline for 6), train then
 * val then test; that directory must be new or empty. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "carve.h"
#include "files.h"
#include "hash.h"
#include "dataset.h"
#include "pathfinder.h"

#define PF_GEN_VERSION "pathfinder-v1"
#define MAX_TURN 0.6f
#define PER_DIR 1000
#define PF_PI 3.14159265358979f

#define PF_PARAMS(SIZE, LEN, TRAIN)                                                      \
  {"size", EB_P_INT, SIZE, "image side in pixels (LRA: 32, 64, 128)", NULL},             \
      {"contour_length", EB_P_INT, LEN,                                                  \
       "paddles per contour: difficulty (LRA: 6 easy, 9, 14 hard)", NULL},               \
      {"distractors", EB_P_INT, "-1", "distractor contours (-1 = size/16 - 1)", NULL},   \
      {"paddle_length", EB_P_INT, "0", "pixels per paddle (0 = 2 + size/32)", NULL},     \
      {"gap", EB_P_INT, "0", "empty pixels between paddles (0 = 1 + size/64)", NULL},    \
      {"train", EB_P_INT, "0",                                                           \
       "training images (0 = " TRAIN " generated; loaded: 80% of the set)", NULL},       \
      {"val", EB_P_INT, "0",                                                             \
       "validation images (0 = train/8 generated; loaded: 10% of the set)", NULL},       \
      {"test", EB_P_INT, "0",                                                            \
       "test images (0 = train/8 generated; loaded: 10% of the set)", NULL},             \
      {"path", EB_P_STRING, "", "official layout directory to load instead", NULL},      \
      {"curv", EB_P_STRING, "", "which curv_X directory of path (default: by length)",   \
       NULL},                                                                            \
  {                                                                                      \
    NULL, EB_P_END, NULL, NULL, NULL                                                     \
  }

static const eb_param_decl pathfinder_params[] = {PF_PARAMS("32", "14", "16000")};
static const eb_param_decl pathx_params[] = {PF_PARAMS("128", "14", "4000")};

/* ---------------------------------------------------------- generator -- */
int eb_pf_resolve(const eb_args *a, eb_pf_config *c, char *err, size_t errlen) {
  c->size = (int)eb_args_int(a, "size", 32);
  c->contour_length = (int)eb_args_int(a, "contour_length", 14);
  c->distractors = (int)eb_args_int(a, "distractors", -1);
  c->paddle_length = (int)eb_args_int(a, "paddle_length", 0);
  c->gap = (int)eb_args_int(a, "gap", 0);
  if (c->size < 16 || c->size > 512) {
    snprintf(err, errlen, "pathfinder: size %d out of range 16..512", c->size);
    return -1;
  }
  if (c->distractors < 0) c->distractors = c->size / 16 - 1;
  if (c->paddle_length == 0) c->paddle_length = 2 + c->size / 32;
  if (c->gap == 0) c->gap = 1 + c->size / 64;
  c->marker_radius = c->size / 32 < 1 ? 1 : c->size / 32 > 3 ? 3 : c->size / 32;
  if (c->contour_length < 1 || c->contour_length > 100 || c->distractors > 200 ||
      c->paddle_length < 1 || c->paddle_length > c->size / 2 || c->gap < 1 ||
      c->gap > c->size / 4) {
    snprintf(err, errlen,
             "pathfinder: need 1 <= contour_length <= 100 (got %d), distractors <= 200 "
             "(%d), 1 <= paddle_length <= size/2 (%d), 1 <= gap <= size/4 (%d)",
             c->contour_length, c->distractors, c->paddle_length, c->gap);
    return -1;
  }
  return 0;
}

/* The next paddle starts gap + 1 pixels from the previous end pixel (an
 * integer point), so after rounding it is at most gap + 1 away (Chebyshev). */
int eb_pf_link_radius(const eb_pf_config *c) { return c->gap + 1; }

typedef struct canvas {
  int S, R;
  uint8_t *img, *own; /* own: contour id of each pixel, 0 = free */
  int *undo, nundo;
} canvas;

/* may pixel (x, y) belong to contour id? (in bounds, no other contour near) */
static int free_at(const canvas *c, int x, int y, int id) {
  if (x < 0 || y < 0 || x >= c->S || y >= c->S) return 0;
  int x0 = x - c->R < 0 ? 0 : x - c->R, x1 = x + c->R >= c->S ? c->S - 1 : x + c->R;
  int y0 = y - c->R < 0 ? 0 : y - c->R, y1 = y + c->R >= c->S ? c->S - 1 : y + c->R;
  for (int yy = y0; yy <= y1; yy++)
    for (int xx = x0; xx <= x1; xx++) {
      int o = c->own[yy * c->S + xx];
      if (o && o != id) return 0;
    }
  return 1;
}

static void paint(canvas *c, int x, int y, int id) {
  int i = y * c->S + x;
  if (c->own[i]) return;
  c->own[i] = (uint8_t)id;
  c->img[i] = 255;
  c->undo[c->nundo++] = i;
}

static void undo_to(canvas *c, int mark) {
  while (c->nundo > mark) {
    int i = c->undo[--c->nundo];
    c->own[i] = 0;
    c->img[i] = 0;
  }
}

static int iround(float v) { return (int)floorf(v + 0.5f); }

/* a dot of radius r at (x, y); 0 if it does not fit */
static int dot(canvas *c, int x, int y, int r, int id) {
  for (int dy = -r; dy <= r; dy++)
    for (int dx = -r; dx <= r; dx++)
      if (dx * dx + dy * dy <= r * r + r && !free_at(c, x + dx, y + dy, id)) return 0;
  for (int dy = -r; dy <= r; dy++)
    for (int dx = -r; dx <= r; dx++)
      if (dx * dx + dy * dy <= r * r + r) paint(c, x + dx, y + dy, id);
  return 1;
}

/* One contour with id; dots: 0 none, 1 at its start, 2 at both ends.
 * Fills ends[4] (start x, y, end x, y). 0 ok, -1 no room after retries. */
static int contour(canvas *c, const eb_pf_config *g, eb_rng *r, int id, int dots,
                   int tries, int ends[4]) {
  float m = (float)g->marker_radius + 1.0f, span = (float)c->S - 1.0f - 2.0f * m;
  for (int attempt = 0; attempt < tries; attempt++) {
    int mark = c->nundo, ok = 1;
    float sx = m + eb_rng_uniform(r) * span, sy = m + eb_rng_uniform(r) * span;
    float th = eb_rng_uniform(r) * 2.0f * PF_PI, ex = sx, ey = sy;
    for (int k = 0; ok && k < g->contour_length; k++) {
      int placed = 0;
      for (int t = 0; !placed && t < (k ? 16 : 1); t++) {
        /* when blocked, allow sharper turns, up to twice MAX_TURN */
        float turn = MAX_TURN * (1.0f + (float)t / 16.0f);
        float a = k ? th + (2.0f * eb_rng_uniform(r) - 1.0f) * turn : th;
        float ca = cosf(a), sa = sinf(a), step = (float)(g->gap + 1);
        float x0 = k ? ex + step * ca : sx, y0 = k ? ey + step * sa : sy;
        float x1 = x0 + (float)(g->paddle_length - 1) * ca,
              y1 = y0 + (float)(g->paddle_length - 1) * sa;
        int n = g->paddle_length, px[64], py[64], good = 1;
        if (n > 64) n = 64;
        for (int i = 0; good && i < n; i++) {
          float u = n > 1 ? (float)i / (float)(n - 1) : 0.0f;
          px[i] = iround(x0 + u * (x1 - x0));
          py[i] = iround(y0 + u * (y1 - y0));
          good = free_at(c, px[i], py[i], id);
        }
        if (!good) continue;
        for (int i = 0; i < n; i++)
          paint(c, px[i], py[i], id);
        if (k == 0) {
          sx = (float)px[0];
          sy = (float)py[0];
        }
        ex = (float)px[n - 1];
        ey = (float)py[n - 1];
        th = a;
        placed = 1;
      }
      ok = placed;
    }
    ends[0] = iround(sx);
    ends[1] = iround(sy);
    ends[2] = iround(ex);
    ends[3] = iround(ey);
    if (ok && dots >= 1) ok = dot(c, ends[0], ends[1], g->marker_radius, id);
    if (ok && dots >= 2) ok = dot(c, ends[2], ends[3], g->marker_radius, id);
    if (ok) return 0;
    undo_to(c, mark);
  }
  return -1;
}

int eb_pf_example(const eb_pf_config *g, uint64_t seed, int split, int64_t index,
                  uint8_t *img, int dots[4]) {
  uint64_t s = eb_rng_hash(seed, 0x9A7F1D00ull + (uint64_t)split, (uint64_t)index);
  int label = (int)(eb_rng_hash(s, 1, 0) & 1);
  size_t np = (size_t)g->size * (size_t)g->size;
  canvas c = {.S = g->size, .R = eb_pf_link_radius(g), .img = img};
  c.own = malloc(np);
  c.undo = malloc(np * sizeof *c.undo);
  int rc = -1;
  for (int attempt = 0; c.own && c.undo && attempt < 50; attempt++) {
    eb_rng r = eb_rng_make(s, 2 + (uint64_t)attempt);
    memset(img, 0, np);
    memset(c.own, 0, np);
    c.nundo = 0;
    int a[4], b[4], d[4];
    if (contour(&c, g, &r, 1, label ? 2 : 1, 20, a) ||
        contour(&c, g, &r, 2, label ? 0 : 1, 20, b))
      continue;
    for (int k = 0; k < g->distractors; k++)
      (void)contour(&c, g, &r, 3 + k, 0, 5, d); /* best effort */
    dots[0] = a[0];
    dots[1] = a[1];
    dots[2] = label ? a[2] : b[0];
    dots[3] = label ? a[3] : b[1];
    rc = label;
    break;
  }
  free(c.own);
  free(c.undo);
  return rc;
}

/* -------------------------------------------------------------- task --- */
typedef struct pf_data {
  eb_dataset ds;
  eb_pf_config cfg;
} pf_data;

/* counts for a loaded set of `total` examples, taken in order: explicit
 * train/val/test, where a 0 count takes its share of LRA's 80/10/10 split
 * (train total*8/10, val total/10, test what these two leave) */
static int split_counts(const eb_args *a, int64_t total, int64_t n[3], const char *where,
                        char *err, size_t errlen) {
  static const char *const names[3] = {"train", "val", "test"};
  static const char *const shares[3] = {"80 %", "10 %", "10 %"};
  int64_t share[3] = {total * 8 / 10, total / 10, 0}, sum = 0;
  share[2] = total - share[0] - share[1];
  int zero[3], small = 0;
  for (int k = 0; k < 3; k++) {
    n[k] = eb_args_int(a, names[k], 0);
    if (n[k] < 0) {
      snprintf(err, errlen, "pathfinder: train, val and test must be >= 0");
      return -1;
    }
    zero[k] = n[k] == 0;
    if (zero[k]) n[k] = share[k];
    sum += n[k];
    small |= n[k] < 1;
  }
  if (sum <= total && !small) return 0;
  char what[3][64];
  for (int k = 0; k < 3; k++)
    snprintf(what[k], sizeof what[k], "%s %lld%s%s%s", names[k], (long long)n[k],
             zero[k] ? " (0 = " : "", zero[k] ? shares[k] : "", zero[k] ? ")" : "");
  if (small)
    snprintf(err, errlen,
             "%s: %lld images, cannot split into %s, %s, %s: each split needs at least "
             "one",
             where, (long long)total, what[0], what[1], what[2]);
  else
    snprintf(err, errlen,
             "%s: %lld images, cannot split into %s, %s, %s: %lld in all, more than "
             "there are",
             where, (long long)total, what[0], what[1], what[2], (long long)sum);
  return -1;
}

static int generate(const eb_pf_config *g, const eb_args *a, uint64_t seed,
                    int64_t deftrain, eb_dataset *d, char *err, size_t errlen) {
  int64_t n[3] = {eb_args_int(a, "train", 0), eb_args_int(a, "val", 0),
                  eb_args_int(a, "test", 0)};
  if (n[0] < 0 || n[1] < 0 || n[2] < 0) {
    snprintf(err, errlen, "pathfinder: train, val and test must be >= 0");
    return -1;
  }
  if (!n[0]) n[0] = deftrain;
  for (int k = 1; k < 3; k++)
    if (!n[k]) n[k] = n[0] / 8 > 0 ? n[0] / 8 : 1;
  int len = g->size * g->size;
  memset(d, 0, sizeof *d);
  for (int k = 0; k < 3; k++) {
    eb_split_data *s = &d->split[k];
    if (eb_split_alloc(s, n[k], len, 0, 0, err, errlen)) return -1;
    for (int64_t i = 0; i < n[k]; i++) {
      int dots[4];
      int label =
          eb_pf_example(g, seed, k, i, (uint8_t *)s->tok + (size_t)i * (size_t)len, dots);
      if (label < 0) {
        snprintf(err, errlen,
                 "pathfinder: no room for two contours of %d paddles in %dx%d (split %d "
                 "example %lld): lower contour_length or paddle_length",
                 g->contour_length, g->size, g->size, k, (long long)i);
        return -1;
      }
      s->len[i] = len;
      s->labels[i] = label;
    }
  }
  return 0;
}

/* --- official layout --- */
typedef struct meta_file {
  char name[256];
} meta_file;

static int meta_cmp(const void *pa, const void *pb) {
  const char *a = ((const meta_file *)pa)->name, *b = ((const meta_file *)pb)->name;
  char *ea, *eb;
  long na = strtol(a, &ea, 10), nb = strtol(b, &eb, 10);
  int numa = ea != a && !strcmp(ea, ".npy"), numb = eb != b && !strcmp(eb, ".npy");
  if (numa && numb) return na < nb ? -1 : na > nb;
  if (numa != numb) return numa ? -1 : 1;
  return strcmp(a, b);
}

/* the curv_X directory to read under path */
static int find_curv(const char *path, const eb_args *a, const eb_pf_config *g, char *out,
                     size_t len, char *err, size_t errlen) {
  char p[4096];
  snprintf(p, sizeof p, "%s/metadata", path);
  if (eb_is_dir(p)) {
    snprintf(out, len, "%s", path);
    return 0;
  }
  const char *curv = eb_args_str(a, "curv", "");
  if (curv && *curv) {
    snprintf(out, len, "%s/%s", path, curv);
    if (eb_is_dir(out)) return 0;
    snprintf(err, errlen, "%s: no such directory", out);
    return -1;
  }
  if (g->contour_length == 6) {
    snprintf(out, len, "%s/curv_baseline", path);
    if (eb_is_dir(out)) return 0;
  }
  snprintf(out, len, "%s/curv_contour_length_%d", path, g->contour_length);
  if (eb_is_dir(out)) return 0;
  DIR *D = opendir(path);
  if (!D) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  char names[1024] = "";
  int found = 0;
  struct dirent *e;
  while ((e = readdir(D))) {
    if (strncmp(e->d_name, "curv_", 5)) continue;
    found++;
    snprintf(out, len, "%s/%s", path, e->d_name);
    size_t o = strlen(names);
    snprintf(names + o, sizeof names - o, "%s%s", o ? ", " : "", e->d_name);
  }
  closedir(D);
  if (found == 1) return 0;
  if (!found)
    snprintf(err, errlen, "%s: no curv_*/metadata directory (Pathfinder layout) found",
             path);
  else
    snprintf(err, errlen,
             "%s: several Pathfinder sets (%s): choose with --task-param curv=", path,
             names);
  return -1;
}

static int list_meta(const char *curv, meta_file **out, int *n, char *err,
                     size_t errlen) {
  char p[4096];
  snprintf(p, sizeof p, "%s/metadata", curv);
  DIR *D = opendir(p);
  if (!D) {
    snprintf(err, errlen, "%s: cannot open: %s", p, strerror(errno));
    return -1;
  }
  meta_file *v = NULL;
  int cnt = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(D))) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".npy") || l >= sizeof v->name) continue;
    if (cnt == cap) {
      cap = cap ? cap * 2 : 64;
      meta_file *nv = realloc(v, (size_t)cap * sizeof *v);
      if (!nv) {
        free(v);
        closedir(D);
        snprintf(err, errlen, "out of memory");
        return -1;
      }
      v = nv;
    }
    snprintf(v[cnt++].name, sizeof v->name, "%s", e->d_name);
  }
  closedir(D);
  if (!cnt) {
    free(v);
    snprintf(err, errlen, "%s: no .npy metadata files", p);
    return -1;
  }
  qsort(v, (size_t)cnt, sizeof *v, meta_cmp);
  *out = v;
  *n = cnt;
  return 0;
}

/* an 8-bit grayscale PNG of exactly S x S into px */
static int read_png(const char *file, int S, uint8_t *px, const char *meta, int line,
                    char *err, size_t errlen) {
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  struct stat st;
  if (stat(file, &st) != 0) {
    snprintf(err, errlen, "%s (%s:%d): cannot open: %s", file, meta, line,
             strerror(errno));
    return -1;
  }
  if (!png_image_begin_read_from_file(&im, file)) {
    snprintf(err, errlen, "%s (%s:%d): %s", file, meta, line, im.message);
    png_image_free(&im);
    return -1;
  }
  if (im.width != (png_uint_32)S || im.height != (png_uint_32)S ||
      im.format != PNG_FORMAT_GRAY) {
    snprintf(err, errlen, "%s (%s:%d): %ux%u %s image, expected %dx%d 8-bit grayscale",
             file, meta, line, im.width, im.height,
             im.format == PNG_FORMAT_GRAY ? "grayscale" : "non-grayscale or 16-bit", S,
             S);
    png_image_free(&im);
    return -1;
  }
  im.format = PNG_FORMAT_GRAY;
  if (!png_image_finish_read(&im, NULL, px, 0, NULL)) {
    snprintf(err, errlen, "%s (%s:%d): %s", file, meta, line, im.message);
    png_image_free(&im);
    return -1;
  }
  return 0;
}

/* Called for each example of a layout, in order: the PNG path (resolved as
 * the loader reads it), the label, and the metadata file and line. */
typedef int (*example_fn)(void *user, const char *png, int label, const char *meta,
                          int line, char *err, size_t errlen);

/* Parse every metadata file of curv (numeric order, lines in file order). */
static int each_example(const char *curv, example_fn fn, void *user, char *err,
                        size_t errlen) {
  meta_file *mf;
  int nmf;
  if (list_meta(curv, &mf, &nmf, err, errlen)) return -1;
  int rc = 0;
  char line[4096];
  for (int f = 0; !rc && f < nmf; f++) {
    char mp[4096];
    snprintf(mp, sizeof mp, "%s/metadata/%s", curv, mf[f].name);
    FILE *fp = fopen(mp, "r");
    if (!fp) {
      snprintf(err, errlen, "%s: cannot open: %s", mp, strerror(errno));
      rc = -1;
      break;
    }
    int ln = 0;
    while (!rc && fgets(line, sizeof line, fp)) {
      ln++;
      size_t l = strlen(line);
      if (l == sizeof line - 1 && line[l - 1] != '\n') {
        snprintf(err, errlen, "%s:%d: line too long", mp, ln);
        rc = -1;
        break;
      }
      char *fld[4], *save = NULL;
      int nf = 0;
      for (char *t = strtok_r(line, " \t\r\n", &save); t && nf < 4;
           t = strtok_r(NULL, " \t\r\n", &save))
        fld[nf++] = t;
      if (nf == 0) continue; /* blank line */
      if (nf < 4) {
        snprintf(err, errlen,
                 "%s:%d: expected 4 fields (imgs subdir, file, index, label), got %d", mp,
                 ln, nf);
        rc = -1;
        break;
      }
      if (strcmp(fld[3], "0") && strcmp(fld[3], "1")) {
        snprintf(err, errlen, "%s:%d: bad label '%s' (expected 0 or 1)", mp, ln, fld[3]);
        rc = -1;
        break;
      }
      char ip[4096];
      snprintf(ip, sizeof ip, "%s/%s/%s", curv, fld[0], fld[1]);
      struct stat st;
      if (stat(ip, &st) != 0 && strncmp(fld[0], "imgs", 4)) /* "<b>" for "imgs/<b>" */
        snprintf(ip, sizeof ip, "%s/imgs/%s/%s", curv, fld[0], fld[1]);
      rc = fn(user, ip, fld[3][0] - '0', mp, ln, err, errlen);
    }
    fclose(fp);
  }
  free(mf);
  return rc;
}

typedef struct grow {
  size_t len; /* pixels per image */
  int S;
  uint8_t *px;
  int32_t *labels;
  int64_t n, cap;
} grow;

/* example_fn: read one PNG into the growing pixel buffer */
static int grow_png(void *user, const char *png, int label, const char *meta, int line,
                    char *err, size_t errlen) {
  grow *G = user;
  if (G->n == G->cap) {
    G->cap = G->cap ? G->cap * 2 : 1024;
    uint8_t *np = realloc(G->px, (size_t)G->cap * G->len);
    if (np) G->px = np;
    int32_t *nl = np ? realloc(G->labels, (size_t)G->cap * sizeof *nl) : NULL;
    if (nl) G->labels = nl;
    if (!np || !nl) {
      snprintf(err, errlen, "out of memory reading %s", meta);
      return -1;
    }
  }
  if (read_png(png, G->S, G->px + (size_t)G->n * G->len, meta, line, err, errlen))
    return -1;
  G->labels[G->n++] = label;
  return 0;
}

static int load_layout(const eb_pf_config *g, const char *curv, const eb_args *a,
                       eb_dataset *d, char *err, size_t errlen) {
  size_t len = (size_t)g->size * (size_t)g->size;
  grow G = {.len = len, .S = g->size};
  int rc = -1;
  if (each_example(curv, grow_png, &G, err, errlen)) goto out;
  int64_t n[3];
  if (split_counts(a, G.n, n, curv, err, errlen)) goto out;
  memset(d, 0, sizeof *d);
  int64_t first = 0;
  for (int k = 0; k < 3; k++) {
    eb_split_data *s = &d->split[k];
    if (eb_split_alloc(s, n[k], (int)len, 0, 0, err, errlen)) {
      eb_dataset_free(d);
      goto out;
    }
    memcpy(s->tok, G.px + (size_t)first * len, (size_t)n[k] * len);
    for (int64_t i = 0; i < n[k]; i++) {
      s->len[i] = (int32_t)len;
      s->labels[i] = G.labels[first + i];
    }
    first += n[k];
  }
  rc = 0;
out:
  free(G.px);
  free(G.labels);
  return rc;
}

/* example_fn: fold an example's PNG path, label and stamp (size, mtime in ns,
 * inode: stat only) into a hash, so an edited metadata line or a replaced
 * image, even within the same second, gives a new cache key; and list the
 * metadata files and images read, for the data source */
typedef struct pf_stamp {
  uint64_t h;
  eb_path_list files;
  char meta[4096]; /* the metadata file last listed */
} pf_stamp;

static int stamp_png(void *user, const char *png, int label, const char *meta, int line,
                     char *err, size_t errlen) {
  pf_stamp *ps = user;
  char text[4096 + 128];
  snprintf(text, sizeof text, "%s %d", png, label);
  if (eb_file_stamp(png, text, sizeof text)) {
    snprintf(err, errlen, "%s (%s:%d): cannot open: %s", png, meta, line,
             strerror(errno));
    return -1;
  }
  ps->h = eb_hash_str(ps->h, text);
  ps->h = eb_hash_str(ps->h, "\n");
  if (strcmp(ps->meta, meta)) {
    snprintf(ps->meta, sizeof ps->meta, "%s", meta);
    eb_path_list_add(&ps->files, meta);
  }
  eb_path_list_add(&ps->files, png);
  return 0;
}

typedef struct pf_source {
  const eb_pf_config *cfg;
  const eb_args *args;
  uint64_t seed;
  int64_t deftrain;
  const char *curv; /* "" = generate */
} pf_source;

/* eb_dataset_build_fn: generate, or load the layout */
static int pf_build(void *user, eb_dataset *d, char *err, size_t errlen) {
  const pf_source *src = user;
  const eb_pf_config *g = src->cfg;
  int rc = *src->curv ? load_layout(g, src->curv, src->args, d, err, errlen)
                      : generate(g, src->args, src->seed, src->deftrain, d, err, errlen);
  if (rc) return -1;
  d->info.vocab = 257;
  d->info.classes = 2;
  d->info.max_len = g->size * g->size;
  d->info.mode = EB_INPUT_SINGLE;
  d->info.n_train = d->split[0].n;
  d->info.n_val = d->split[1].n;
  d->info.n_test = d->split[2].n;
  return 0;
}

/* eb_dataset_fits_fn: does a cache file hold images of the configured size? */
static int pf_fits(void *user, const eb_dataset *d) {
  const pf_source *src = user;
  int len = src->cfg->size * src->cfg->size;
  if (d->info.vocab != 257 || d->info.classes != 2 || d->info.max_len != len) return 0;
  for (int k = 0; k < 3; k++)
    if (d->split[k].max_len != len || d->split[k].wide || d->split[k].pair) return 0;
  return 1;
}

static int pf_open(const char *name, int64_t deftrain, const eb_args *a, uint64_t seed,
                   void **data, eb_task_info *info, char *err, size_t errlen) {
  pf_data *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  pf_stamp ps = {EB_FNV_SEED, {0}, ""};
  if (eb_pf_resolve(a, &p->cfg, err, errlen)) goto fail;
  const char *path = eb_args_str(a, "path", "");
  char curv[4096] = "", ver[4096 + 64];
  snprintf(ver, sizeof ver, "%s", PF_GEN_VERSION);
  if (path && *path) {
    if (find_curv(path, a, &p->cfg, curv, sizeof curv, err, errlen)) goto fail;
    if (each_example(curv, stamp_png, &ps, err, errlen)) goto fail;
    if (ps.files.oom) {
      snprintf(err, errlen, "out of memory listing %s", curv);
      goto fail;
    }
    snprintf(ver, sizeof ver, "%s %s %016llx", PF_GEN_VERSION, curv,
             (unsigned long long)ps.h);
    seed = 0; /* loaded data do not depend on it */
  }
  pf_source src = {&p->cfg, a, seed, deftrain, curv};
  if (eb_dataset_cached_fit(name, a, seed, ver, &p->ds, pf_build, pf_fits, &src, err,
                            errlen) ||
      (*curv ? eb_source_files(&p->ds.src, "official", "official Pathfinder PNGs", curv,
                               (const char *const *)ps.files.v, ps.files.n, err, errlen)
             : eb_source_generated(&p->ds.src, PF_GEN_VERSION, NULL, seed, a, err,
                                   errlen))) {
    eb_dataset_free(&p->ds);
    goto fail;
  }
  eb_path_list_free(&ps.files);
  *info = p->ds.info;
  *data = p;
  return 0;
fail:
  eb_path_list_free(&ps.files);
  free(p);
  return -1;
}

static int pathfinder_open(const eb_args *a, uint64_t seed, void **data,
                           eb_task_info *info, char *err, size_t errlen) {
  return pf_open("pathfinder", 16000, a, seed, data, info, err, errlen);
}

static int pathx_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                      char *err, size_t errlen) {
  return pf_open("pathx", 4000, a, seed, data, info, err, errlen);
}

static const eb_data_source *pf_source_of(void *data) {
  return eb_source_get(&((pf_data *)data)->ds.src);
}

static int pf_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                    eb_batch *out, char *err, size_t errlen) {
  pf_data *p = data;
  if (eb_dataset_batch(&p->ds, split, index, epoch_seed, out, err, errlen)) return -1;
  size_t n = (size_t)out->B * (size_t)out->N;
  for (size_t i = 0; i < n; i++)
    out->tokens[i] += out->mask[i]; /* intensity v -> token v + 1 */
  return 0;
}

static void pf_close(void *data) {
  pf_data *p = data;
  if (!p) return;
  eb_dataset_free(&p->ds);
  free(p);
}

static int pf_write(void *data, const char *dir, char *err, size_t errlen) {
  const pf_data *p = data;
  char curv[2048], sub[3072], file[4096];
  if (p->cfg.contour_length == 6)
    snprintf(curv, sizeof curv, "%s/curv_baseline", dir);
  else
    snprintf(curv, sizeof curv, "%s/curv_contour_length_%d", dir, p->cfg.contour_length);
  if (eb_out_dir(curv, err, errlen)) return -1; /* DIR may hold other curv_X sets */
  snprintf(sub, sizeof sub, "%s/metadata", curv);
  if (eb_mkdirs(sub, err, errlen)) return -1;
  int S = p->cfg.size;
  FILE *meta = NULL;
  int64_t g = 0;
  for (int k = 0; k < 3; k++) {
    const eb_split_data *s = &p->ds.split[k];
    for (int64_t i = 0; i < s->n; i++, g++) {
      int64_t b = g / PER_DIR;
      if (g % PER_DIR == 0) {
        if (meta && fclose(meta) != 0) {
          meta = NULL;
          snprintf(err, errlen, "%s: write failed: %s", file, strerror(errno));
          return -1;
        }
        snprintf(sub, sizeof sub, "%s/imgs/%lld", curv, (long long)b);
        if (eb_mkdirs(sub, err, errlen)) return -1;
        snprintf(file, sizeof file, "%s/metadata/%lld.npy", curv, (long long)b);
        meta = fopen(file, "w");
        if (!meta) {
          snprintf(err, errlen, "%s: cannot write: %s", file, strerror(errno));
          return -1;
        }
      }
      char png[4096];
      snprintf(png, sizeof png, "%s/imgs/%lld/sample_%lld.png", curv, (long long)b,
               (long long)(g % PER_DIR));
      png_image im;
      memset(&im, 0, sizeof im);
      im.version = PNG_IMAGE_VERSION;
      im.width = (png_uint_32)S;
      im.height = (png_uint_32)S;
      im.format = PNG_FORMAT_GRAY;
      const uint8_t *px = (const uint8_t *)s->tok + (size_t)i * (size_t)s->max_len;
      if (!png_image_write_to_file(&im, png, 0, px, 0, NULL)) {
        snprintf(err, errlen, "%s: %s", png, im.message);
        fclose(meta);
        return -1;
      }
      if (fprintf(meta, "imgs/%lld sample_%lld.png %lld %d\n", (long long)b,
                  (long long)(g % PER_DIR), (long long)(g % PER_DIR), s->labels[i]) < 0) {
        snprintf(err, errlen, "%s: write failed: %s", file, strerror(errno));
        fclose(meta);
        return -1;
      }
    }
  }
  if (meta && fclose(meta) != 0) {
    snprintf(err, errlen, "%s: write failed: %s", file, strerror(errno));
    return -1;
  }
  return 0;
}

const eb_task eb_task_pathfinder = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "pathfinder",
    .summary = "LRA Pathfinder: are the two dots joined by a dashed contour? (32x32 "
               "pixels, generated or official PNG layout)",
    .params = pathfinder_params,
    .open = pathfinder_open,
    .batch = pf_batch,
    .close = pf_close,
    .write = pf_write,
    .source = pf_source_of,
};

const eb_task eb_task_pathx = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "pathx",
    .summary = "LRA Path-X: Pathfinder at 128x128 (16,384 tokens)",
    .params = pathx_params,
    .open = pathx_open,
    .batch = pf_batch,
    .close = pf_close,
    .write = pf_write,
    .source = pf_source_of,
};
