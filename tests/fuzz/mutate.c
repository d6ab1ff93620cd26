/* ctest-labels: slow;stress
 *
 * Deterministic mutation test of every parser: the seed corpus of each fuzz
 * target (tests/fuzz/corpus/NAME/) first as it is (files named valid-* must
 * load, bad-* must be refused with a message), then mutated inputs drawn by a
 * seeded PRNG (bit flips, byte changes, insertions, deletions, duplicated
 * ranges, truncation, splices of two seeds), each through the target's entry
 * point (tests/fuzz/fuzz_*.c, the same functions the libFuzzer targets call).
 * Every input must give a valid load or a clean error: a crash, a sanitizer
 * report (ASan+UBSan builds), an error without a message, or an input running
 * past the per-input time limit fails the test. The input being run is kept
 * in fuzz_mutate.last (removed when all pass) to reproduce a failure.
 *
 * fuzz_mutate [--inputs N] [--seed S] [--limit SECONDS] [--only NAME]
 * (defaults: 11000 mutated inputs in all, seed 1, 10 s per input). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

#ifndef EB_FUZZ_CORPUS
#error "EB_FUZZ_CORPUS (tests/fuzz/corpus) must be defined"
#endif

#define MAX_SEEDS 64
#define MAX_INPUT (64 * 1024)

typedef struct target {
  const char *name;
  eb_fuzz_fn fn;
} target;

static const target targets[] = {
    {"yaml", eb_fuzz_yaml},
    {"listops", eb_fuzz_listops},
    {"retrieval", eb_fuzz_retrieval},
    {"text", eb_fuzz_text},
    {"idx", eb_fuzz_idx},
    {"idxgz", eb_fuzz_idxgz},
    {"cifar", eb_fuzz_cifar},
    {"pathfinder", eb_fuzz_pathfinder},
    {"store", eb_fuzz_store},
    {"cache", eb_fuzz_cache},
};
#define NTARGETS (int)(sizeof targets / sizeof *targets)

typedef struct seed {
  char name[256];
  uint8_t *data;
  size_t size;
} seed;

static char current[512];
static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "fuzz_mutate: an input ran past the time limit (a hang): ";
  if (write(2, msg, sizeof msg - 1) < 0 || write(2, current, strlen(current)) < 0 ||
      write(2, "\n", 1) < 0) {
  }
  _exit(3);
}

static uint64_t rng_state;
static uint64_t rnd(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static size_t below(size_t n) { return n ? (size_t)(rnd() % n) : 0; }

static int load_seeds(const char *name, seed *s) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/%s", EB_FUZZ_CORPUS, name);
  DIR *D = opendir(dir);
  if (!D) return 0;
  int n = 0;
  for (struct dirent *e; n < MAX_SEEDS && (e = readdir(D));) {
    if (e->d_name[0] == '.') continue;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    s[n].data = malloc(MAX_INPUT);
    s[n].size = s[n].data ? fread(s[n].data, 1, MAX_INPUT, f) : 0;
    fclose(f);
    snprintf(s[n].name, sizeof s[n].name, "%s", e->d_name);
    n++;
  }
  closedir(D);
  /* readdir order is the file system's: sort by name for determinism */
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && strcmp(s[j - 1].name, s[j].name) > 0; j--) {
      seed t = s[j];
      s[j] = s[j - 1];
      s[j - 1] = t;
    }
  return n;
}

/* one mutated input from the seeds into out (MAX_INPUT bytes); its size */
static size_t mutate(const seed *s, int ns, uint8_t *out) {
  const seed *a = &s[below((size_t)ns)];
  size_t n = a->size;
  memcpy(out, a->data, n);
  int ops = 1 + (int)below(4);
  for (int k = 0; k < ops; k++) {
    switch (below(8)) {
    case 0: /* flip a bit */
      if (n) out[below(n)] ^= (uint8_t)(1u << below(8));
      break;
    case 1: { /* set a byte to an interesting or random value */
      static const uint8_t v[] = {0, 0xff, 0x7f, 0x80, '\t', '\n', ' ', '-', '9', ':'};
      if (n) out[below(n)] = below(2) ? v[below(sizeof v)] : (uint8_t)rnd();
      break;
    }
    case 2: { /* insert 1..16 bytes */
      size_t m = 1 + below(16), at = below(n + 1);
      if (n + m > MAX_INPUT) break;
      memmove(out + at + m, out + at, n - at);
      for (size_t i = 0; i < m; i++)
        out[at + i] = (uint8_t)rnd();
      n += m;
      break;
    }
    case 3: { /* delete a range */
      if (!n) break;
      size_t at = below(n), m = 1 + below(n - at < 64 ? n - at : 64);
      memmove(out + at, out + at + m, n - at - m);
      n -= m;
      break;
    }
    case 4: /* truncate */ n = below(n + 1); break;
    case 5: { /* duplicate a range */
      if (!n) break;
      size_t at = below(n), m = 1 + below(n - at < 256 ? n - at : 256), to = below(n + 1);
      if (n + m > MAX_INPUT) break;
      uint8_t tmp[256];
      memcpy(tmp, out + at, m);
      memmove(out + to + m, out + to, n - to);
      memcpy(out + to, tmp, m);
      n += m;
      break;
    }
    case 6: { /* splice: a prefix of this input, a suffix of another seed */
      const seed *b = &s[below((size_t)ns)];
      size_t keep = below(n + 1), from = below(b->size + 1), m = b->size - from;
      if (keep + m > MAX_INPUT) m = MAX_INPUT - keep;
      memcpy(out + keep, b->data + from, m);
      n = keep + m;
      break;
    }
    default: { /* overwrite 4 bytes with a boundary number */
      static const uint32_t v[] = {0, 1, 0x7fffffffu, 0x80000000u, 0xffffffffu, 60000, 3};
      if (n >= 4) {
        uint32_t x = v[below(sizeof v / sizeof *v)];
        if (below(2)) x = __builtin_bswap32(x);
        memcpy(out + below(n - 3), &x, 4);
      }
      break;
    }
    }
  }
  return n;
}

static void keep_last(const uint8_t *data, size_t n) {
  FILE *f = fopen("fuzz_mutate.last", "wb");
  if (f) {
    if (n) fwrite(data, 1, n, f);
    fclose(f);
  }
}

int main(int argc, char **argv) {
  long inputs = 11000, limit = 10;
  uint64_t seed0 = 1;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--inputs") && i + 1 < argc)
      inputs = atol(argv[++i]);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      seed0 = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
      limit = atol(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: fuzz_mutate [--inputs N] [--seed S] [--limit SECONDS] "
                      "[--only NAME]\n");
      return 2;
    }
  }
  signal(SIGALRM, on_alarm);
  int nt = 0, failures = 0;
  for (int t = 0; t < NTARGETS; t++)
    nt += !only || !strcmp(only, targets[t].name);
  if (!nt) {
    fprintf(stderr, "fuzz_mutate: no target named %s\n", only);
    return 2;
  }
  long per = (inputs + nt - 1) / nt, total = 0;
  uint8_t *buf = malloc(MAX_INPUT);
  if (!buf) return 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int t = 0; t < NTARGETS; t++) {
    const target *tg = &targets[t];
    if (only && strcmp(only, tg->name)) continue;
    seed s[MAX_SEEDS];
    int ns = load_seeds(tg->name, s);
    if (ns < 2) {
      fprintf(stderr, "%s: fewer than 2 seeds under %s/%s\n", tg->name, EB_FUZZ_CORPUS,
              tg->name);
      failures++;
      continue;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    /* the seeds as they are: valid-* load, bad-* are refused */
    int nvalid = 0;
    for (int i = 0; i < ns; i++) {
      snprintf(current, sizeof current, "%s seed %.200s", tg->name, s[i].name);
      keep_last(s[i].data, s[i].size);
      alarm((unsigned)limit);
      int rc = tg->fn(s[i].data, s[i].size);
      alarm(0);
      if (!strncmp(s[i].name, "valid", 5) && rc != 0) {
        fprintf(stderr, "%s: seed %s should load but was refused\n", tg->name, s[i].name);
        failures++;
      }
      if (!strncmp(s[i].name, "bad", 3) && rc != 1) {
        fprintf(stderr, "%s: seed %s should be refused but loaded\n", tg->name,
                s[i].name);
        failures++;
      }
      nvalid += !strncmp(s[i].name, "valid", 5);
    }
    if (!nvalid) {
      fprintf(stderr, "%s: no valid-* seed\n", tg->name);
      failures++;
    }
    /* mutants */
    rng_state = seed0 * 0x100000001B3ull + (uint64_t)t;
    long ok = 0, refused = 0;
    for (long i = 0; i < per; i++) {
      size_t n = mutate(s, ns, buf);
      snprintf(current, sizeof current, "%s mutant %ld (seed %llu)", tg->name, i,
               (unsigned long long)seed0);
      keep_last(buf, n);
      alarm((unsigned)limit);
      int rc = tg->fn(buf, n);
      alarm(0);
      if (rc == 0)
        ok++;
      else
        refused++;
    }
    total += per;
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%-10s %2d seeds, %ld mutants: %ld loaded, %ld refused cleanly, %.1f s\n",
           tg->name, ns, per, ok, refused,
           (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
    fflush(stdout);
    for (int i = 0; i < ns; i++)
      free(s[i].data);
  }
  free(buf);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("fuzz_mutate: %ld mutated inputs over %d parsers in %.1f s, %d failure(s)\n",
         total, nt,
         (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec),
         failures);
  if (!failures) remove("fuzz_mutate.last");
  return failures ? 1 : 0;
}
