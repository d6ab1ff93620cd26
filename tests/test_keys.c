/* Keys and checksums that must never change (they name stored runs, cached
 * data sets and checkpoints): the suite's run keys, the data cache's file
 * names, a checkpoint's checksum and the string hash of tasks' provenance,
 * each pinned to the value computed by the code before the hashes shared one
 * implementation. A changed value here orphans every database, cache and
 * checkpoint written before. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "carve.h"
#include "dataset.h"
#include "check.h"
#include "ckpt.h"
#include "effbench/rc.h"
#include "registry.h"
#include "suite.h"

/* every kind of value a run's canonical JSON holds: ints, floats written
 * with more and fewer decimals than %.9g keeps, strings, booleans, arch
 * and task parameters, an override, a sweep over a float, a data seed */
static const char *const SUITE =
    "suite: keys\n"
    "seeds: [0, 7]\n"
    "data_seed: 11\n"
    "model: {dim: 24, depth: 2, heads: 2, ffn: 40, dropout: 0.1, pool: cls}\n"
    "train: {steps: 50, batch: 8, lr: 0.003, warmup: 5, weight_decay: 0.0123456789123,\n"
    "        eval_every: 25, time_budget: 90s, schedule: cosine}\n"
    "tasks:\n"
    "  - majority: {len: 32, train: 256, val: 32, test: 32}\n"
    "  - listops: {max_len: 64, min_len: 16, train: 128, val: 16, test: 16}\n"
    "archs:\n"
    "  - vanilla\n"
    "  - linformer: {k: 8}\n"
    "  - moe: {experts: 2, capacity_factor: 1.5}\n"
    "overrides:\n"
    "  - match: {task: listops}\n"
    "    model: {ffn: 48}\n"
    "sweep:\n"
    "  train.lr: [1e-3, 3.3e-4]\n";

/* the keys of SUITE's runs in order, as computed before the refactor */
static const char *const KEYS[] = {
    "bf54e839f0ad113ad2971632aed21060", /* vanilla/majority/seed=0/train.lr=1e-3 */
    "ce84946ff1cb284b66baafdf3daf5ded", /* vanilla/majority/seed=7/train.lr=1e-3 */
    "9cc7b4fcd184c735db352a9c97959b8b", /* vanilla/majority/seed=0/train.lr=3.3e-4 */
    "82dcd6db406a3b7491cbfe8e4038beb6", /* vanilla/majority/seed=7/train.lr=3.3e-4 */
    "50a4fd70832908e6909ac2160e773d04", /* linformer/majority/seed=0/train.lr=1e-3 */
    "24f3fb74d224a78f6b72e5324335f029", /* linformer/majority/seed=7/train.lr=1e-3 */
    "898934d2277bc6f93678f9f2512c7d77", /* linformer/majority/seed=0/train.lr=3.3e-4 */
    "ba3cecd9a925b9f0af972203acc3838a", /* linformer/majority/seed=7/train.lr=3.3e-4 */
    "d452de473900cd21c23cae073a2930c7", /* moe/majority/seed=0/train.lr=1e-3 */
    "d4a0dda1dcf7419ce88e3f42823f839e", /* moe/majority/seed=7/train.lr=1e-3 */
    "7c9cdbf0c1faf5827b3cb07a1ebe47c8", /* moe/majority/seed=0/train.lr=3.3e-4 */
    "599e8d0838c2968f913c17f7882e0111", /* moe/majority/seed=7/train.lr=3.3e-4 */
    "5e48b5ac114f9c2a24527ff580541040", /* vanilla/listops/seed=0/train.lr=1e-3 */
    "bc9edc1289d552afba0634cea907fea1", /* vanilla/listops/seed=7/train.lr=1e-3 */
    "7bc91233235fcae5b0884e2886cb29eb", /* vanilla/listops/seed=0/train.lr=3.3e-4 */
    "2fcb8b68cb0398906250327832022702", /* vanilla/listops/seed=7/train.lr=3.3e-4 */
    "ddb5bacd0ae6a6467c6c12a72cf43c04", /* linformer/listops/seed=0/train.lr=1e-3 */
    "8266e2eb60a98cc334c913e64ea9c59d", /* linformer/listops/seed=7/train.lr=1e-3 */
    "85cfe9d18546a1d9224a4a836fa97c77", /* linformer/listops/seed=0/train.lr=3.3e-4 */
    "3a7230741d53f9ecddf0839725eb8b66", /* linformer/listops/seed=7/train.lr=3.3e-4 */
    "2e2d3310f4510025fe30db78c17d770b", /* moe/listops/seed=0/train.lr=1e-3 */
    "24472964680eb14c6f218840dfef2ace", /* moe/listops/seed=7/train.lr=1e-3 */
    "9b7cdee350d8ab0e52c9ee09ef8fa334", /* moe/listops/seed=0/train.lr=3.3e-4 */
    "58fea5200255d7ff7f36be18c5e34a41", /* moe/listops/seed=7/train.lr=3.3e-4 */
};
#define NKEYS ((int)(sizeof KEYS / sizeof KEYS[0]))

/* the stored config_json of the first and the last run (the shortest
 * decimals that read back to each value: "9e+01" is what that rule gives
 * for a 90 s budget) */
static const char *const JSON_FIRST =
    "{\"arch\":\"vanilla\",\"arch_params\":{\"attention\":\"blockwise\",\"causal\":false}"
    ",\"data_s"
    "eed\":11,\"model\":{\"depth\":2,\"dim\":24,\"dropout\":0.1,\"ffn\":40,\"heads\":2,"
    "\"pool\":\"cls"
    "\"},\"seed\":0,\"task\":\"majority\",\"task_params\":{\"classes\":4,\"len\":32,"
    "\"min_len\":0,\"t"
    "est\":32,\"train\":256,\"val\":32,\"vocab\":16},\"train\":{\"batch\":8,\"clip\":1,"
    "\"eval_batch"
    "es\":0,\"eval_every\":25,\"lr\":0.001,\"schedule\":\"cosine\",\"steps\":50,\"time_"
    "budget\":9e"
    "+01,\"warmup\":5,\"weight_decay\":0.012345679}}";
static const char *const JSON_LAST = "{\"arch\":\"moe\",\"arch_params\":{\"aux_weight\":"
                                     "0.01,\"capacity_factor\":1.5,\"eval_capac"
                                     "ity_factor\":0,\"experts\":2,\"top_k\":1},\"data_"
                                     "seed\":11,\"model\":{\"depth\":2,\"dim\":24,"
                                     "\"dropout\":0.1,\"ffn\":48,\"heads\":2,\"pool\":"
                                     "\"cls\"},\"seed\":7,\"task\":\"listops\",\"task_p"
                                     "arams\":{\"max_args\":10,\"max_depth\":10,\"max_"
                                     "len\":64,\"min_len\":16,\"path\":\"\",\"test\":"
                                     "16,\"train\":128,\"val\":16,\"verify\":true},"
                                     "\"train\":{\"batch\":8,\"clip\":1,\"eval_batches"
                                     "\":0,\"eval_every\":25,\"lr\":0.00033,\"schedule\":"
                                     "\"cosine\",\"steps\":50,\"time_budget\":9e"
                                     "+01,\"warmup\":5,\"weight_decay\":0.012345679}}";

static void run_keys(eb_registry *reg) {
  const char *path = "test_keys.yaml";
  FILE *f = fopen(path, "w");
  if (!f) {
    CHECK(0, "cannot write %s", path);
    return;
  }
  fputs(SUITE, f);
  fclose(f);
  eb_suite s;
  char err[EB_ERR_LEN];
  int rc = eb_suite_load(path, reg, &s, err, sizeof err);
  unlink(path);
  CHECK(rc == EB_OK, "suite: %s", err);
  if (rc) return;
  CHECK(s.nruns == NKEYS, "%d runs, %d keys pinned", s.nruns, NKEYS);
  for (int i = 0; i < s.nruns && i < NKEYS; i++)
    CHECK(strcmp(s.runs[i].key, KEYS[i]) == 0, "run %d (%s): key %s, was %s", i,
          s.runs[i].label, s.runs[i].key, KEYS[i]);
  if (s.nruns == NKEYS) {
    CHECK(strcmp(s.runs[0].config_json, JSON_FIRST) == 0, "config_json %s",
          s.runs[0].config_json);
    CHECK(strcmp(s.runs[NKEYS - 1].config_json, JSON_LAST) == 0, "config_json %s",
          s.runs[NKEYS - 1].config_json);
  }
  eb_suite_free(&s);
}

static void cache_keys(void) {
  char dir[] = "/tmp/eb_test_keys_XXXXXX";
  if (!mkdtemp(dir)) {
    CHECK(0, "mkdtemp");
    return;
  }
  setenv("EFFBENCH_CACHE", dir, 1);
  eb_arg av[4] = {{"len", EB_P_INT, 64, 64, "64"},
                  {"mode", EB_P_STRING, 0, 0, "a b"},
                  {"p", EB_P_FLOAT, 0, 0.1, "0.1"},
                  {"flag", EB_P_BOOL, 1, 1, "true"}};
  eb_args args = {4, av};
  char p[600], err[EB_ERR_LEN];
  CHECK(eb_cache_path("listops", &args, 3, "v2", p, sizeof p, err, sizeof err) == 0, "%s",
        err);
  CHECK(strcmp(p + strlen(dir), "/listops-e9e21ca2aaad54bf.ebds") == 0, "cache path %s",
        p);
  CHECK(eb_cache_path("t", NULL, 0, NULL, p, sizeof p, err, sizeof err) == 0, "%s", err);
  CHECK(strcmp(p + strlen(dir), "/t-90bab005a2c50d5c.ebds") == 0, "cache path %s", p);
  rmdir(dir);
}

static void ckpt_sum(void) {
  float losses[3] = {2.5f, 1.25f, -0.5f}, data[5], m[5], v[5], best[5];
  for (int i = 0; i < 5; i++) {
    data[i] = 0.1f * (float)i - 0.3f;
    m[i] = 1e-3f * (float)i;
    v[i] = 1e-6f * (float)(i * i);
    best[i] = data[i] + 0.5f;
  }
  eb_eval_point ev = {0};
  ev.step = 2;
  ev.loss = 0.75;
  ev.accuracy = 0.625;
  ev.elapsed_s = 1.5;
  eb_ckpt c = {.step = 3,
               .steps = 10,
               .best_step = 2,
               .best_val = 0.625,
               .train_time = 1.25,
               .elapsed = 1.5,
               .real_tokens = 96,
               .padded_tokens = 128,
               .flops_train_step = 1e6,
               .model_flops_train_step = 9e5,
               .nparam = 5,
               .losses = losses,
               .data = data,
               .m = m,
               .v = v,
               .best = best,
               .nevals = 1,
               .evals = &ev};
  const char *path = "test_keys.ckpt";
  char err[EB_ERR_LEN];
  CHECK(eb_ckpt_save(path, "0123456789abcdef", &c, err, sizeof err) == 0, "%s", err);
  FILE *f = fopen(path, "rb");
  unsigned char hdr[104];
  CHECK(f && fread(hdr, 1, sizeof hdr, f) == sizeof hdr, "cannot read %s", path);
  if (f) fclose(f);
  unlink(path);
  uint64_t sum;
  memcpy(&sum, hdr + 96, 8);
  CHECK(sum == 0xa0c9913ccb219cf7ull, "checkpoint checksum %016llx",
        (unsigned long long)sum);
}

static void str_hash(void) {
  uint64_t h = eb_hash_str(1469598103934665603ull, "source-v1");
  h = eb_hash_str(h, "pos/");
  CHECK(h == 0x8b9b5bf6a522a5fbull, "eb_hash_str %016llx", (unsigned long long)h);
  CHECK(eb_hash_str(0, "") == 0, "eb_hash_str of nothing changes the state");
}

int main(void) {
  eb_registry *reg = eb_registry_create();
  char err[EB_ERR_LEN];
  CHECK(eb_registry_add_builtins(reg, err, sizeof err) == 0, "builtins: %s", err);
  run_keys(reg);
  cache_keys();
  ckpt_sum();
  str_hash();
  eb_registry_destroy(reg);
  return eb_test_done("test_keys");
}
