/* image: LRA's Image task, pixels of a grayscale image as a token sequence.
 *
 * Sources (parameter `source`):
 *   fashion-mnist  the Debian package dataset-fashion-mnist (default; 28x28, 784 tokens)
 *   mnist-idx      any MNIST-family IDX files in `path` (train-images-idx3-ubyte,
 *                  train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 *                  t10k-labels-idx1-ubyte, each plain or .gz); any image size
 *   cifar10        CIFAR-10 binary batches in `path` (data_batch_1.bin ..
 *                  data_batch_5.bin, test_batch.bin), converted to grayscale as
 *                  LRA does (32x32, 1024 tokens)
 *
 * IDX files are read through zlib's gz* functions, which read gzip and plain
 * files alike, so the Debian package's .gz files need no unpacking.
 *
 * Tokens: pixel value p (0..255) is token p + 1, vocabulary 257, because id 0
 * is padding everywhere in effbench. The cache stores the raw pixel bytes
 * (uint8, one byte per token) and batch() adds the 1, so a 60000 x 784 split
 * costs 47 MB on disk and is memory-mapped.
 *
 * Splits: test is the official test set (its first `test` images when
 * test > 0); val is the LAST `val` images of the official train set; train is
 * the first `train` images of the rest (all of them when train = 0). The split
 * does not depend on the seed, so the cache key uses seed 0; it includes each
 * source file's path, size, modification time (ns) and inode, so replaced
 * files are reread. The cache is best effort (eb_dataset_cached).
 *
 * write() stores the data set as four uncompressed IDX files (train = train
 * split followed by val split) in a new or empty directory, so
 * `effbench data image --out DIR` followed by
 * `--task-param source=mnist-idx --task-param path=DIR` (same `val`) gives the
 * same examples back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "files.h"
#include "dataset.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist"
#define IMAGE_GEN_VERSION "image-v1"
#define IDX_IMAGES_MAGIC 0x00000803u
#define IDX_LABELS_MAGIC 0x00000801u
#define CIFAR_RECORD 3073
#define CIFAR_SIDE 32
#define IMAGE_CLASSES 10
#define MAX_SIDE 4096
#define MAX_FILE_BYTES ((size_t)1 << 32)

static const eb_param_decl image_params[] = {
    {"source", EB_P_STRING, "fashion-mnist", "where the images come from",
     "fashion-mnist|mnist-idx|cifar10"},
    {"path", EB_P_STRING, "",
     "directory of the source files (fashion-mnist default: " FMNIST_DIR ")", NULL},
    {"val", EB_P_INT, "5000",
     "validation images, the last ones of the official train set", NULL},
    {"train", EB_P_INT, "0", "training images (0 = the rest of the official train set)",
     NULL},
    {"test", EB_P_INT, "0", "test images from the official test set (0 = all)", NULL},
    {NULL, EB_P_END, NULL, NULL, NULL},
};

typedef enum image_source { SRC_FMNIST, SRC_IDX, SRC_CIFAR } image_source;

typedef struct image_data {
  eb_dataset ds;
  int rows, cols;
} image_data;

/* One official split in memory: n images of rows x cols, labels 0..9. */
typedef struct raw_set {
  int64_t n;
  int rows, cols;
  uint8_t *px, *labels;
} raw_set;

static void raw_free(raw_set *r) {
  free(r->px);
  free(r->labels);
  memset(r, 0, sizeof *r);
}

static uint32_t be32(const uint8_t *b) {
  return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Whole file into memory, gunzipped if it is gzip (plain files pass through). */
static int read_all(const char *path, uint8_t **out, size_t *outlen, char *err,
                    size_t errlen) {
  *out = NULL;
  *outlen = 0;
  struct stat st;
  int bad = stat(path, &st) != 0 ? errno : 0;
  if (bad || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s: cannot open: %s", path,
             bad ? strerror(bad) : "not a regular file");
    return -1;
  }
  gzFile f = gzopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  size_t cap = 1 << 16, n = 0;
  uint8_t *buf = malloc(cap);
  for (;;) {
    if (!buf) {
      gzclose(f);
      snprintf(err, errlen, "%s: out of memory reading it", path);
      return -1;
    }
    if (n == cap) {
      if (cap >= MAX_FILE_BYTES) {
        free(buf);
        gzclose(f);
        snprintf(err, errlen, "%s: larger than %zu bytes", path, MAX_FILE_BYTES);
        return -1;
      }
      uint8_t *nb = realloc(buf, cap * 2);
      if (!nb) free(buf);
      buf = nb;
      cap *= 2;
      continue;
    }
    size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
    int got = gzread(f, buf + n, (unsigned)want);
    if (got < 0) {
      int zerr = 0;
      const char *msg = gzerror(f, &zerr);
      snprintf(err, errlen, "%s: read error at byte offset %zu of the data: %s", path, n,
               msg ? msg : "unknown");
      free(buf);
      gzclose(f);
      return -1;
    }
    if (got == 0) break;
    n += (size_t)got;
  }
  int zerr = Z_OK;
  const char *msg = gzerror(f, &zerr);
  if (zerr != Z_OK && zerr != Z_STREAM_END) {
    /* zlib prefixes its message with the path: drop that */
    size_t pl = strlen(path);
    if (msg && !strncmp(msg, path, pl) && !strncmp(msg + pl, ": ", 2)) msg += pl + 2;
    snprintf(err, errlen, "%s: damaged gzip data at byte offset %zu of the data: %s",
             path, n, msg ? msg : "unknown");
    free(buf);
    gzclose(f);
    return -1;
  }
  gzclose(f);
  *out = buf;
  *outlen = n;
  return 0;
}

/* ------------------------------------------------------------- IDX ----- */
/* Parse an IDX image file (magic 0x00000803, n x rows x cols uint8). */
static int idx_images(const char *path, raw_set *r, char *err, size_t errlen) {
  uint8_t *b;
  size_t len;
  if (read_all(path, &b, &len, err, errlen)) return -1;
  int rc = -1;
  if (len < 16) {
    snprintf(err, errlen, "%s: truncated IDX header: %zu bytes, need 16", path, len);
    goto out;
  }
  uint32_t magic = be32(b);
  if (magic != IDX_IMAGES_MAGIC) {
    snprintf(err, errlen,
             "%s: byte offset 0: wrong header: magic 0x%08x, expected 0x%08x (IDX "
             "images, 3 dimensions of uint8)",
             path, magic, IDX_IMAGES_MAGIC);
    goto out;
  }
  uint32_t n = be32(b + 4), rows = be32(b + 8), cols = be32(b + 12);
  if (rows < 1 || cols < 1 || rows > MAX_SIDE || cols > MAX_SIDE) {
    snprintf(err, errlen, "%s: byte offset 8: wrong image size %ux%u (1..%d per side)",
             path, rows, cols, MAX_SIDE);
    goto out;
  }
  size_t img = (size_t)rows * cols, want = (size_t)n * img;
  if (len - 16 != want) {
    if (len - 16 < want)
      snprintf(err, errlen,
               "%s: truncated: header declares %u images of %ux%u (%zu bytes of data) "
               "but there are %zu; record %zu (byte offset %zu) is incomplete",
               path, n, rows, cols, want, len - 16, (len - 16) / img,
               16 + (len - 16) / img * img);
    else
      snprintf(err, errlen,
               "%s: %zu bytes after the %u images of %ux%u the header declares (byte "
               "offset %zu)",
               path, len - 16 - want, n, rows, cols, 16 + want);
    goto out;
  }
  r->px = malloc(want ? want : 1);
  if (!r->px) {
    snprintf(err, errlen, "%s: out of memory", path);
    goto out;
  }
  memcpy(r->px, b + 16, want);
  r->n = n;
  r->rows = (int)rows;
  r->cols = (int)cols;
  rc = 0;
out:
  free(b);
  return rc;
}

/* Parse an IDX label file (magic 0x00000801) for r (n must match). */
static int idx_labels(const char *path, const char *images_path, raw_set *r, char *err,
                      size_t errlen) {
  uint8_t *b;
  size_t len;
  if (read_all(path, &b, &len, err, errlen)) return -1;
  int rc = -1;
  if (len < 8) {
    snprintf(err, errlen, "%s: truncated IDX header: %zu bytes, need 8", path, len);
    goto out;
  }
  uint32_t magic = be32(b);
  if (magic != IDX_LABELS_MAGIC) {
    snprintf(err, errlen,
             "%s: byte offset 0: wrong header: magic 0x%08x, expected 0x%08x (IDX "
             "labels, 1 dimension of uint8)",
             path, magic, IDX_LABELS_MAGIC);
    goto out;
  }
  uint32_t n = be32(b + 4);
  if (len - 8 != n) {
    snprintf(err, errlen,
             "%s: %s: header declares %u labels but the file holds %zu (byte offset %zu)",
             path, len - 8 < n ? "truncated" : "trailing bytes", n, len - 8,
             len - 8 < n ? len : (size_t)8 + n);
    goto out;
  }
  if ((int64_t)n != r->n) {
    snprintf(err, errlen, "%s: %u labels, but %s has %lld images", path, n, images_path,
             (long long)r->n);
    goto out;
  }
  for (uint32_t i = 0; i < n; i++)
    if (b[8 + i] >= IMAGE_CLASSES) {
      snprintf(err, errlen,
               "%s: record %u (byte offset %u): bad label %d (expected 0..%d)", path, i,
               8 + i, b[8 + i], IMAGE_CLASSES - 1);
      goto out;
    }
  r->labels = malloc(n ? n : 1);
  if (!r->labels) {
    snprintf(err, errlen, "%s: out of memory", path);
    goto out;
  }
  memcpy(r->labels, b + 8, n);
  rc = 0;
out:
  free(b);
  return rc;
}

/* DIR/NAME, or DIR/NAME.gz when only that exists */
static int idx_find(const char *dir, const char *name, char *buf, size_t len, char *err,
                    size_t errlen) {
  snprintf(buf, len, "%s/%s", dir, name);
  if (eb_is_file(buf)) return 0;
  snprintf(buf, len, "%s/%s.gz", dir, name);
  if (eb_is_file(buf)) return 0;
  snprintf(err, errlen, "%s: neither %s nor %s.gz found", dir, name, name);
  return -1;
}

static const char *const idx_names[4] = {
    "train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte"};

/* Load an IDX split pair (k = 0 train, 1 test). */
static int idx_load(const char files[][4096], int k, raw_set *r, char *err,
                    size_t errlen) {
  if (idx_images(files[2 * k], r, err, errlen) ||
      idx_labels(files[2 * k + 1], files[2 * k], r, err, errlen)) {
    raw_free(r);
    return -1;
  }
  return 0;
}

/* ----------------------------------------------------------- CIFAR ----- */
/* Grayscale as LRA gets it from tf.image.rgb_to_grayscale on uint8 images:
 * scale to [0,1], weights (0.2989, 0.5870, 0.1140), back to uint8 by
 * truncating x * 255.5 (TF's convert_image_dtype), all in float32. */
static uint8_t cifar_gray(uint8_t r, uint8_t g, uint8_t b) {
  const float s = 1.0f / 255.0f;
  float y =
      0.2989f * ((float)r * s) + 0.5870f * ((float)g * s) + 0.1140f * ((float)b * s);
  float v = y * 255.5f;
  return v >= 255.0f ? 255 : v <= 0.0f ? 0 : (uint8_t)v;
}

/* Append the records of one CIFAR-10 binary batch file to r. */
static int cifar_file(const char *path, raw_set *r, char *err, size_t errlen) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || st.st_size < CIFAR_RECORD ||
      st.st_size % CIFAR_RECORD != 0) {
    long long sz = (long long)st.st_size;
    fclose(f);
    snprintf(err, errlen,
             "%s: size %lld bytes is not a whole number of %d-byte CIFAR-10 records "
             "(record %lld at byte offset %lld is incomplete)",
             path, sz, CIFAR_RECORD, sz / CIFAR_RECORD, sz / CIFAR_RECORD * CIFAR_RECORD);
    return -1;
  }
  int64_t add = st.st_size / CIFAR_RECORD, side = CIFAR_SIDE * CIFAR_SIDE;
  uint8_t *px = realloc(r->px, (size_t)(r->n + add) * (size_t)side);
  if (px) r->px = px;
  uint8_t *lab = px ? realloc(r->labels, (size_t)(r->n + add)) : NULL;
  if (lab) r->labels = lab;
  if (!px || !lab) {
    fclose(f);
    snprintf(err, errlen, "%s: out of memory", path);
    return -1;
  }
  uint8_t rec[CIFAR_RECORD];
  for (int64_t i = 0; i < add; i++) {
    if (fread(rec, 1, CIFAR_RECORD, f) != CIFAR_RECORD) {
      fclose(f);
      snprintf(err, errlen, "%s: record %lld (byte offset %lld): read error", path,
               (long long)i, (long long)(i * CIFAR_RECORD));
      return -1;
    }
    if (rec[0] >= IMAGE_CLASSES) {
      fclose(f);
      snprintf(err, errlen,
               "%s: record %lld (byte offset %lld): bad label %d (expected 0..%d)", path,
               (long long)i, (long long)(i * CIFAR_RECORD), rec[0], IMAGE_CLASSES - 1);
      return -1;
    }
    uint8_t *o = r->px + (size_t)(r->n + i) * (size_t)side;
    for (int p = 0; p < side; p++)
      o[p] = cifar_gray(rec[1 + p], rec[1 + side + p], rec[1 + 2 * side + p]);
    r->labels[r->n + i] = rec[0];
  }
  fclose(f);
  r->n += add;
  r->rows = r->cols = CIFAR_SIDE;
  return 0;
}

/* CIFAR-10 files of a directory (or of its cifar-10-batches-bin subdirectory):
 * data_batch_1.bin is required, data_batch_2..5.bin are taken while present
 * (no gaps), test_batch.bin is required. Fills files[0..nfiles). */
static int cifar_find(const char *path, char files[][4096], int *nfiles, char *err,
                      size_t errlen) {
  char dir[3072];
  snprintf(dir, sizeof dir, "%s/cifar-10-batches-bin", path);
  if (!eb_is_dir(dir)) snprintf(dir, sizeof dir, "%s", path);
  int n = 0, gap = 0;
  for (int k = 1; k <= 5; k++) {
    char f[4096];
    snprintf(f, sizeof f, "%s/data_batch_%d.bin", dir, k);
    if (!eb_is_file(f)) {
      if (k == 1) {
        snprintf(err, errlen, "%s: no CIFAR-10 binary batch (data_batch_1.bin) found",
                 dir);
        return -1;
      }
      gap = k;
      continue;
    }
    if (gap) {
      snprintf(err, errlen,
               "%s: data_batch_%d.bin is missing but data_batch_%d.bin exists", dir, gap,
               k);
      return -1;
    }
    snprintf(files[n++], 4096, "%s", f);
  }
  snprintf(files[n], 4096, "%s/test_batch.bin", dir);
  if (!eb_is_file(files[n])) {
    snprintf(err, errlen, "%s: test_batch.bin not found", dir);
    return -1;
  }
  *nfiles = n + 1;
  return 0;
}

/* --------------------------------------------------------------- task -- */
typedef struct image_cfg {
  image_source src;
  const char *dir;
  int64_t train, val, test;
  char files[6][4096];
  int nfiles;     /* files[]: idx = 4 (train img, train lab, test img, test lab); cifar =
                     train batches then test_batch.bin */
  int rows, cols; /* from the train images' header */
} image_cfg;

static int image_files(image_cfg *c, char *err, size_t errlen) {
  if (c->src == SRC_CIFAR) return cifar_find(c->dir, c->files, &c->nfiles, err, errlen);
  if (c->src == SRC_FMNIST && !eb_is_dir(c->dir)) {
    snprintf(err, errlen,
             "Fashion-MNIST not found at %s: install the Debian package "
             "dataset-fashion-mnist (scripts/install-deps) or set --task-param path=DIR",
             c->dir);
    return -1;
  }
  for (int k = 0; k < 4; k++)
    if (idx_find(c->dir, idx_names[k], c->files[k], sizeof c->files[k], err, errlen))
      return -1;
  c->nfiles = 4;
  return 0;
}

/* image rows/cols of the train images (reads only the IDX header) */
static int image_shape(image_cfg *c, char *err, size_t errlen) {
  int *rows = &c->rows, *cols = &c->cols;
  if (c->src == SRC_CIFAR) {
    *rows = *cols = CIFAR_SIDE;
    return 0;
  }
  gzFile f = gzopen(c->files[0], "rb");
  uint8_t h[16];
  int got = f ? gzread(f, h, 16) : -1;
  if (f) gzclose(f);
  if (got != 16) {
    snprintf(err, errlen, "%s: truncated IDX header", c->files[0]);
    return -1;
  }
  *rows = (int)be32(h + 8);
  *cols = (int)be32(h + 12);
  return 0;
}

static int fill_split(eb_split_data *s, const raw_set *r, int64_t first, int64_t n,
                      char *err, size_t errlen) {
  int len = r->rows * r->cols;
  if (eb_split_alloc(s, n, len, 0, 0, err, errlen)) return -1;
  memcpy(s->tok, r->px + (size_t)first * (size_t)len, (size_t)n * (size_t)len);
  for (int64_t i = 0; i < n; i++) {
    s->len[i] = len;
    s->labels[i] = r->labels[first + i];
  }
  return 0;
}

/* eb_dataset_build_fn: decode the source files (user: the image_cfg) */
static int image_build(void *user, eb_dataset *d, char *err, size_t errlen) {
  const image_cfg *c = user;
  raw_set tr = {0}, te = {0};
  int rc = -1;
  if (c->src == SRC_CIFAR) {
    for (int k = 0; k < c->nfiles - 1; k++)
      if (cifar_file(c->files[k], &tr, err, errlen)) goto out;
    if (cifar_file(c->files[c->nfiles - 1], &te, err, errlen)) goto out;
  } else {
    if (idx_load(c->files, 0, &tr, err, errlen) ||
        idx_load(c->files, 1, &te, err, errlen))
      goto out;
    if (te.rows != tr.rows || te.cols != tr.cols) {
      snprintf(err, errlen, "%s: images are %dx%d but %s has %dx%d", c->files[2], te.rows,
               te.cols, c->files[0], tr.rows, tr.cols);
      goto out;
    }
    if (c->src == SRC_FMNIST && (tr.rows != 28 || tr.cols != 28)) {
      snprintf(err, errlen, "%s: images are %dx%d, Fashion-MNIST has 28x28", c->files[0],
               tr.rows, tr.cols);
      goto out;
    }
  }
  const char *trf = c->files[0], *tef = c->files[c->nfiles == 4 ? 2 : c->nfiles - 1];
  if (c->val >= tr.n) {
    snprintf(err, errlen,
             "task 'image': val (%lld) must be smaller than the official train set (%lld "
             "images in %s)",
             (long long)c->val, (long long)tr.n, trf);
    goto out;
  }
  int64_t avail = tr.n - c->val, ntrain = c->train ? c->train : avail;
  if (ntrain > avail) {
    snprintf(err, errlen,
             "task 'image': train (%lld) + val (%lld) exceed the %lld images of the "
             "official train set (%s)",
             (long long)ntrain, (long long)c->val, (long long)tr.n, trf);
    goto out;
  }
  int64_t ntest = c->test ? c->test : te.n;
  if (ntest > te.n || te.n < 1) {
    snprintf(err, errlen, "task 'image': test (%lld) exceeds the %lld images of %s",
             (long long)ntest, (long long)te.n, tef);
    goto out;
  }
  memset(d, 0, sizeof *d);
  if (fill_split(&d->split[EB_SPLIT_TRAIN], &tr, 0, ntrain, err, errlen) ||
      fill_split(&d->split[EB_SPLIT_VAL], &tr, avail, c->val, err, errlen) ||
      fill_split(&d->split[EB_SPLIT_TEST], &te, 0, ntest, err, errlen)) {
    eb_dataset_free(d);
    goto out;
  }
  d->info.vocab = 257;
  d->info.classes = IMAGE_CLASSES;
  d->info.max_len = tr.rows * tr.cols;
  d->info.mode = EB_INPUT_SINGLE;
  d->info.n_train = ntrain;
  d->info.n_val = c->val;
  d->info.n_test = ntest;
  rc = 0;
out:
  raw_free(&tr);
  raw_free(&te);
  return rc;
}

/* eb_dataset_fits_fn: does a cache file hold images of the source's shape? */
static int image_fits(void *user, const eb_dataset *d) {
  const image_cfg *c = user;
  int len = c->rows * c->cols;
  if (d->info.vocab != 257 || d->info.classes != IMAGE_CLASSES || d->info.max_len != len)
    return 0;
  for (int k = 0; k < 3; k++)
    if (d->split[k].max_len != len || d->split[k].wide || d->split[k].pair) return 0;
  return 1;
}

static int image_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                      char *err, size_t errlen) {
  image_cfg *c = calloc(1, sizeof *c);
  image_data *p = calloc(1, sizeof *p);
  if (!c || !p) {
    free(c);
    free(p);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  const char *src = eb_args_str(a, "source", "fashion-mnist");
  c->src = !strcmp(src, "cifar10")     ? SRC_CIFAR
           : !strcmp(src, "mnist-idx") ? SRC_IDX
                                       : SRC_FMNIST;
  c->dir = eb_args_str(a, "path", "");
  c->train = eb_args_int(a, "train", 0);
  c->val = eb_args_int(a, "val", 5000);
  c->test = eb_args_int(a, "test", 0);
  int rc = -1;
  if (!c->dir || !*c->dir) {
    if (c->src != SRC_FMNIST) {
      snprintf(err, errlen, "task 'image': source=%s needs --task-param path=DIR", src);
      goto out;
    }
    c->dir = FMNIST_DIR;
  }
  if (c->train < 0 || c->val < 0 || c->test < 0) {
    snprintf(err, errlen, "task 'image': train, val and test must be >= 0");
    goto out;
  }
  if (image_files(c, err, errlen) || image_shape(c, err, errlen)) goto out;

  /* cache key: settings + each source file's path, size, mtime and inode */
  char ver[8192];
  snprintf(ver, sizeof ver, "%s dir=%s", IMAGE_GEN_VERSION, c->dir);
  for (int k = 0; k < c->nfiles; k++) {
    size_t o = strlen(ver);
    snprintf(ver + o, sizeof ver - o, " %s", c->files[k]);
    eb_file_stamp(c->files[k], ver, sizeof ver);
  }
  (void)seed; /* the data do not depend on it */
  if (eb_dataset_cached_fit("image", a, 0, ver, &p->ds, image_build, image_fits, c, err,
                            errlen)) {
    eb_dataset_free(&p->ds);
    goto out;
  }
  { /* provenance: the source files, with sizes and checksums */
    const char *files[6];
    for (int k = 0; k < c->nfiles; k++)
      files[k] = c->files[k];
    const char *kind = c->src == SRC_CIFAR ? "official"
                       : c->src == SRC_IDX ? "substitute:idx"
                                           : "substitute:fashion-mnist";
    const char *label = c->src == SRC_CIFAR ? "official CIFAR-10"
                        : c->src == SRC_IDX ? "IDX images substitute"
                                            : "Fashion-MNIST substitute";
    if (eb_source_files(&p->ds.src, kind, label, c->dir, files, c->nfiles, err, errlen)) {
      eb_dataset_free(&p->ds);
      goto out;
    }
  }
  p->rows = c->rows;
  p->cols = c->cols;
  *info = p->ds.info;
  *data = p;
  p = NULL;
  rc = 0;
out:
  free(c);
  free(p);
  return rc;
}

static int image_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                       eb_batch *out, char *err, size_t errlen) {
  image_data *p = data;
  if (eb_dataset_batch(&p->ds, split, index, epoch_seed, out, err, errlen)) return -1;
  size_t n = (size_t)out->B * (size_t)out->N;
  for (size_t i = 0; i < n; i++)
    out->tokens[i] += out->mask[i]; /* pixel p -> token p + 1 */
  return 0;
}

static const eb_data_source *image_source_of(void *data) {
  return eb_source_get(&((image_data *)data)->ds.src);
}

static void image_close(void *data) {
  image_data *p = data;
  if (!p) return;
  eb_dataset_free(&p->ds);
  free(p);
}

static void put_be32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)(v >> 24);
  b[1] = (uint8_t)(v >> 16);
  b[2] = (uint8_t)(v >> 8);
  b[3] = (uint8_t)v;
}

/* IDX images + labels of the given splits, concatenated, as two files */
static int write_idx(const image_data *p, const char *dir, const char *img_name,
                     const char *lab_name, const int *splits, int nsplits, char *err,
                     size_t errlen) {
  char ip[4096], lp[4096];
  snprintf(ip, sizeof ip, "%s/%s", dir, img_name);
  snprintf(lp, sizeof lp, "%s/%s", dir, lab_name);
  FILE *fi = fopen(ip, "wb"), *fl = fopen(lp, "wb");
  int ok = fi && fl;
  int64_t n = 0;
  for (int k = 0; k < nsplits; k++)
    n += p->ds.split[splits[k]].n;
  uint8_t h[16];
  put_be32(h, IDX_IMAGES_MAGIC);
  put_be32(h + 4, (uint32_t)n);
  put_be32(h + 8, (uint32_t)p->rows);
  put_be32(h + 12, (uint32_t)p->cols);
  ok = ok && fwrite(h, 1, 16, fi) == 16;
  put_be32(h, IDX_LABELS_MAGIC);
  ok = ok && fwrite(h, 1, 8, fl) == 8;
  for (int k = 0; ok && k < nsplits; k++) {
    const eb_split_data *s = &p->ds.split[splits[k]];
    size_t bytes = (size_t)s->n * (size_t)s->max_len;
    ok = fwrite(s->tok, 1, bytes, fi) == bytes;
    for (int64_t i = 0; ok && i < s->n; i++)
      ok = fputc(s->labels[i], fl) != EOF;
  }
  if (fi && fclose(fi) != 0) ok = 0;
  if (fl && fclose(fl) != 0) ok = 0;
  if (!ok) {
    snprintf(err, errlen, "%s: cannot write: %s", !fi ? ip : lp, strerror(errno));
    return -1;
  }
  return 0;
}

static int image_write(void *data, const char *dir, char *err, size_t errlen) {
  const image_data *p = data;
  if (eb_out_dir(dir, err, errlen)) return -1;
  const int train[2] = {EB_SPLIT_TRAIN, EB_SPLIT_VAL}, test[1] = {EB_SPLIT_TEST};
  if (write_idx(p, dir, idx_names[0], idx_names[1], train, 2, err, errlen)) return -1;
  return write_idx(p, dir, idx_names[2], idx_names[3], test, 1, err, errlen);
}

const eb_task eb_task_image = {
    .abi_version = EFFBENCH_ABI_VERSION,
    .struct_size = sizeof(eb_task),
    .name = "image",
    .summary = "LRA Image: grayscale pixels as tokens (Fashion-MNIST, IDX or CIFAR-10), "
               "10 classes",
    .params = image_params,
    .open = image_open,
    .batch = image_batch,
    .close = image_close,
    .write = image_write,
    .source = image_source_of,
};
