/* Data provenance (eb_data_source): SHA-256 against FIPS 180-4 vectors; every
 * built-in task names its generator, rule and seed for generated data, and
 * path, byte size and SHA-256 of each file for file-backed data (the golden
 * fixtures of tests/data); a replaced file gets a new checksum although the
 * description is remembered; a task table of the first ABI-1 size (without
 * `source`) still registers and reports no source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"
#include "check.h"
#include "args.h"
#include "registry.h"

static char data_dir[1024], tmp[1024];

/* open a registered task with "k=v" settings; NULL on failure (err filled) */
typedef struct opened {
  const eb_task *t;
  void *data;
  eb_task_info info;
  eb_argset as;
} opened;

static const eb_data_source *topen(opened *o, eb_registry *reg, const char *task,
                                   uint64_t seed, const char *const *kv, char *err,
                                   size_t errlen) {
  memset(o, 0, sizeof *o);
  o->t = eb_registry_find_task(reg, task);
  if (!o->t) {
    snprintf(err, errlen, "no task %s", task);
    return NULL;
  }
  if (eb_test_resolve_kv(&o->as, task, o->t->params, kv, err, errlen)) return NULL;
  if (o->t->open(&o->as.args, seed, &o->data, &o->info, err, errlen)) {
    eb_argset_free(&o->as);
    o->t = NULL;
    snprintf(err + strlen(err), errlen - strlen(err), " (task %s)", task);
    return NULL;
  }
  const eb_data_source *s = eb_task_source(o->t, o->data);
  if (!s) snprintf(err, errlen, "task %s reports no data source", task);
  return s;
}

static void tclose(opened *o) {
  if (o->t) {
    o->t->close(o->data);
    eb_argset_free(&o->as);
  }
  o->t = NULL;
}

static void test_sha256(void) {
  char hex[65];
  eb_sha256_hex("", 0, hex);
  CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        "empty: %s", hex);
  eb_sha256_hex("abc", 3, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        "abc: %s", hex);
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  eb_sha256_hex(m, strlen(m), hex);
  CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        "448 bits: %s", hex);
  /* a million 'a' through the file path (streamed in blocks) */
  char path[1100];
  snprintf(path, sizeof path, "%s/million", tmp);
  FILE *f = fopen(path, "wb");
  for (int i = 0; f && i < 1000000; i++)
    fputc('a', f);
  if (f) fclose(f);
  int64_t bytes = 0;
  char err[512];
  CHECK(eb_sha256_file(path, hex, &bytes, err, sizeof err) == 0, "%s", err);
  CHECK(bytes == 1000000, "%lld bytes", (long long)bytes);
  CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
        "million a: %s", hex);
}

/* generated data: kind, label with the seed, detail with generator and seed */
static void test_generated(eb_registry *reg) {
  static const struct {
    const char *task, *generator, *rule;
    const char *kv[4];
  } G[] = {
      {"majority", "majority-1", NULL, {"len=16", "train=32", NULL}},
      {"mqar", "mqar-1", NULL, {"train=16", "val=8", "test=8", NULL}},
      {"selective_copy", "selective_copy-1", NULL, {"train=16", "val=8", "test=8", NULL}},
      {"listops", "listops-1", NULL, {"train=8", "val=4", "test=4", NULL}},
      {"text", "text-gen-2", "anagram", {"rule=anagram", "train=8", "max_len=128", NULL}},
      {"retrieval", "retrieval-gen-1", NULL, {"train=8", "val=4", "test=4", NULL}},
      {"pathfinder", "pathfinder-v1", NULL, {"train=8", "val=4", "test=4", NULL}},
  };
  for (size_t i = 0; i < sizeof G / sizeof *G; i++) {
    opened o;
    char err[1024] = "";
    const eb_data_source *s = topen(&o, reg, G[i].task, 7, G[i].kv, err, sizeof err);
    CHECK(s, "%s", err);
    if (!s) {
      tclose(&o);
      continue;
    }
    char label[128], gen[128];
    snprintf(label, sizeof label, "generated%s%s, seed 7", G[i].rule ? " " : "",
             G[i].rule ? G[i].rule : "");
    snprintf(gen, sizeof gen, "{\"generator\":\"%s\",", G[i].generator);
    CHECK(!strcmp(s->kind, "generated"), "%s: kind %s", G[i].task, s->kind);
    CHECK(!strcmp(s->label, label), "%s: label '%s', want '%s'", G[i].task, s->label,
          label);
    CHECK(s->detail && !strncmp(s->detail, gen, strlen(gen)), "%s: detail %s", G[i].task,
          s->detail);
    CHECK(s->detail && strstr(s->detail, "\"seed\":7,"), "%s: detail %s", G[i].task,
          s->detail);
    CHECK(!G[i].rule || strstr(s->detail, "\"rule\":\"anagram\""), "%s: %s", G[i].task,
          s->detail);
    /* the parameters that shape it */
    CHECK(s->detail && strstr(s->detail, "\"train\":"), "%s: %s", G[i].task, s->detail);
    tclose(&o);
  }
}

/* detail names the file (relative path), its size and its SHA-256 */
static void check_file(const char *task, const eb_data_source *s, const char *root,
                       const char *rel) {
  char path[2048], hex[65], err[512], want[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  int64_t bytes = -1;
  CHECK(eb_sha256_file(path, hex, &bytes, err, sizeof err) == 0, "%s", err);
  CHECK(bytes == eb_test_file_size(path), "%s: %lld", path, (long long)bytes);
  snprintf(want, sizeof want, "{\"path\":\"%s\",\"bytes\":%lld,\"sha256\":\"%s\"}", rel,
           (long long)bytes, hex);
  CHECK(strstr(s->detail, want), "%s: %s not in %s", task, want, s->detail);
}

static void test_files(eb_registry *reg) {
  char root[1100], err[1024] = "", kvp[1200];
  opened o;
  const eb_data_source *s;

  /* image, IDX files: a substitute for CIFAR-10 */
  snprintf(root, sizeof root, "%s/image/idx", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *img[] = {"source=mnist-idx", kvp, "val=2", NULL};
  s = topen(&o, reg, "image", 7, img, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    CHECK(!strcmp(s->kind, "substitute:idx"), "%s", s->kind);
    CHECK(!strncmp(s->label, "IDX images substitute, sha256 ", 30), "%s", s->label);
    CHECK(strstr(s->detail, "\"count\":4,"), "%s", s->detail);
    check_file("image", s, root, "train-images-idx3-ubyte");
    check_file("image", s, root, "t10k-labels-idx1-ubyte");
    /* the root is recorded as an absolute path */
    CHECK(strstr(s->detail, "{\"root\":\"/"), "%s", s->detail);
  }
  tclose(&o);

  /* image, CIFAR-10 binaries: official */
  snprintf(root, sizeof root, "%s/image/cifar", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *cif[] = {"source=cifar10", kvp, "val=1", NULL};
  s = topen(&o, reg, "image", 7, cif, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    CHECK(!strcmp(s->kind, "official"), "%s", s->kind);
    check_file("image", s, root, "data_batch_1.bin");
    check_file("image", s, root, "test_batch.bin");
  }
  tclose(&o);

  /* listops, retrieval: official TSVs */
  snprintf(root, sizeof root, "%s/listops", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *lo[] = {kvp, NULL};
  s = topen(&o, reg, "listops", 7, lo, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    CHECK(!strcmp(s->kind, "official"), "%s", s->kind);
    check_file("listops", s, root, "basic_train.tsv");
    check_file("listops", s, root, "basic_val.tsv");
    check_file("listops", s, root, "basic_test.tsv");
  }
  tclose(&o);
  snprintf(root, sizeof root, "%s/retrieval", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *re[] = {kvp, NULL};
  s = topen(&o, reg, "retrieval", 7, re, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    CHECK(!strcmp(s->kind, "official"), "%s", s->kind);
    check_file("retrieval", s, root, "new_aan_pairs.eval.tsv");
  }
  tclose(&o);

  /* text: aclImdb (official, every review file) and TSV files */
  snprintf(root, sizeof root, "%s/text/aclImdb", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *acl[] = {kvp, "val=1", NULL};
  s = topen(&o, reg, "text", 7, acl, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    CHECK(!strcmp(s->kind, "official"), "%s", s->kind);
    CHECK(strstr(s->detail, "\"count\":7,"), "%s", s->detail);
    check_file("text", s, root, "train/pos/0_10.txt");
    check_file("text", s, root, "test/neg/1_3.txt");
    CHECK(!strstr(s->detail, "urls_pos.list"), "%s", s->detail); /* not read */
  }
  tclose(&o);
  snprintf(root, sizeof root, "%s/text/tsv", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *tsv[] = {kvp, "val=1", NULL};
  s = topen(&o, reg, "text", 7, tsv, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    CHECK(!strcmp(s->kind, "files:tsv"), "%s", s->kind);
    check_file("text", s, root, "train.tsv");
    check_file("text", s, root, "test.tsv");
  }
  tclose(&o);

  /* pathfinder: metadata and every PNG */
  snprintf(root, sizeof root, "%s/pathfinder", data_dir);
  snprintf(kvp, sizeof kvp, "path=%s", root);
  const char *pf[] = {kvp, "size=32", "contour_length=6", NULL};
  s = topen(&o, reg, "pathfinder", 7, pf, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) {
    char curv[1200];
    snprintf(curv, sizeof curv, "%s/curv_baseline", root);
    CHECK(!strcmp(s->kind, "official"), "%s", s->kind);
    CHECK(strstr(s->detail, "\"count\":12,"), "%s", s->detail);
    check_file("pathfinder", s, curv, "metadata/2.npy");
    check_file("pathfinder", s, curv, "imgs/10/sample_3.png");
  }
  tclose(&o);
}

/* the remembered description follows a replaced file: new content, new sum */
static void test_replaced(eb_registry *reg) {
  char dir[1100], cmd[3000], err[1024] = "", kvp[1200];
  snprintf(dir, sizeof dir, "%s/idxcopy", tmp);
  snprintf(cmd, sizeof cmd, "cp -r '%s/image/idx' '%s'", data_dir, dir);
  CHECK(system(cmd) == 0, "%s", cmd);
  snprintf(kvp, sizeof kvp, "path=%s", dir);
  const char *kv[] = {"source=mnist-idx", kvp, "val=2", NULL};
  char first[256] = "", second[256] = "", third[256] = "";
  opened o;
  const eb_data_source *s = topen(&o, reg, "image", 0, kv, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) snprintf(first, sizeof first, "%s", s->label);
  tclose(&o);
  s = topen(&o, reg, "image", 0, kv, err, sizeof err); /* remembered */
  if (s) snprintf(second, sizeof second, "%s", s->label);
  tclose(&o);
  CHECK(first[0] && !strcmp(first, second), "'%s' vs '%s'", first, second);
  /* same size, one label changed: the data differ, so must the checksum */
  char lab[1200];
  snprintf(lab, sizeof lab, "%s/t10k-labels-idx1-ubyte", dir);
  FILE *f = fopen(lab, "r+b");
  CHECK(f != NULL, "%s", lab);
  if (f) {
    fseek(f, 8, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 8, SEEK_SET);
    fputc(c == 1 ? 2 : 1, f);
    fclose(f);
  }
  s = topen(&o, reg, "image", 0, kv, err, sizeof err);
  CHECK(s, "%s", err);
  if (s) snprintf(third, sizeof third, "%s", s->label);
  tclose(&o);
  CHECK(third[0] && strcmp(first, third), "unchanged after a replaced file: '%s'", third);
}

/* a table of the first ABI-1 layout (no `source`) still registers */
static int old_open(const eb_args *a, uint64_t seed, void **data, eb_task_info *info,
                    char *err, size_t errlen) {
  (void)a, (void)seed, (void)err, (void)errlen;
  *data = malloc(1);
  *info = (eb_task_info){4, 2, 8, EB_INPUT_SINGLE, 1, 1, 1};
  return 0;
}
static int old_batch(void *data, eb_split split, int64_t index, uint64_t epoch_seed,
                     eb_batch *out, char *err, size_t errlen) {
  (void)data, (void)split, (void)index, (void)epoch_seed, (void)out, (void)err,
      (void)errlen;
  return 0;
}
static const eb_data_source *never(void *data) {
  (void)data;
  static const eb_data_source s = {"generated", "x", "{}"};
  return &s;
}

static void test_old_table(void) {
  eb_registry *reg = eb_registry_create();
  static const eb_param_decl none[] = {{NULL, EB_P_END, NULL, NULL, NULL}};
  /* `source` is set but lies beyond the table the "plugin" declares */
  eb_task old = {.abi_version = EFFBENCH_ABI_VERSION,
                 .struct_size = EB_TASK_SIZE_V1,
                 .name = "old",
                 .summary = "built against the first header",
                 .params = none,
                 .open = old_open,
                 .batch = old_batch,
                 .close = free,
                 .source = never};
  CHECK(eb_register_task(reg, &old) == 0, "%s", eb_registry_error(reg));
  void *data = NULL;
  eb_task_info info;
  char err[256];
  CHECK(old.open(NULL, 0, &data, &info, err, sizeof err) == 0, "open");
  CHECK(eb_task_source(&old, data) == NULL, "a short table has no source member");
  eb_task cur = old;
  cur.name = "cur";
  cur.struct_size = sizeof(eb_task);
  CHECK(eb_register_task(reg, &cur) == 0, "%s", eb_registry_error(reg));
  CHECK(eb_task_source(&cur, data) && !strcmp(eb_task_source(&cur, data)->label, "x"),
        "a full table's source is read");
  free(data);
  eb_task tiny = old;
  tiny.name = "tiny";
  tiny.struct_size = EB_TASK_SIZE_V1 - sizeof(void *);
  CHECK(eb_register_task(reg, &tiny) != 0, "a table shorter than ABI 1 is refused");
  eb_registry_destroy(reg);
}

int main(void) {
  snprintf(data_dir, sizeof data_dir, "%s", __FILE__);
  char *slash = strrchr(data_dir, '/');
  snprintf(slash ? slash + 1 : data_dir,
           sizeof data_dir - (size_t)(slash ? slash + 1 - data_dir : 0), "data");
  snprintf(tmp, sizeof tmp, "/tmp/eb-test-source-XXXXXX");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  char cache[1100];
  snprintf(cache, sizeof cache, "%s/cache", tmp);
  setenv("EFFBENCH_CACHE", cache, 1);
  eb_registry *reg = eb_registry_create();
  char err[512];
  if (eb_registry_add_builtins(reg, err, sizeof err)) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  test_sha256();
  test_generated(reg);
  test_files(reg);
  test_replaced(reg);
  test_old_table();
  eb_registry_destroy(reg);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
  return eb_test_done("test_source");
}
