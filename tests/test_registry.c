/* Registry: built-ins, a real plugin .so, and clean refusals (another core
 * API version, missing entry point, duplicate names, short tables). */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "model.h"
#include "registry.h"
#include "source.h"

static int contains(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

int main(void) {
  char err[EB_ERR_LEN];
  eb_registry *reg = eb_registry_create();
  CHECK(eb_registry_add_builtins(reg, err, sizeof err) == 0, "builtins: %s", err);
  CHECK(eb_registry_find_arch(reg, "vanilla") != NULL, "vanilla not registered");
  CHECK(eb_registry_find_task(reg, "majority") != NULL, "majority not registered");
  /* every built-in has its own code digest: 64 hex digits (its sources' SHA-256,
   * scripts/arch-code.cmake; tests/plugin_resume.test.sh checks the value) */
  for (int i = 0; i < eb_registry_arch_count(reg); i++) {
    const eb_arch *ai = eb_registry_arch_at(reg, i);
    const char *ci = eb_registry_arch_code(reg, ai);
    CHECK(ci && strlen(ci) == 64 && strspn(ci, "0123456789abcdef") == 64,
          "built-in %s: code digest '%s'", ai->name, ci ? ci : "(null)");
    for (int j = 0; ci && j < i; j++) {
      const char *cj = eb_registry_arch_code(reg, eb_registry_arch_at(reg, j));
      CHECK(!cj || strcmp(ci, cj), "built-ins %s and %s share a code digest", ai->name,
            eb_registry_arch_at(reg, j)->name);
    }
  }
  CHECK(eb_registry_arch_code(reg, NULL) == NULL, "code of an unregistered arch");

  /* a good plugin registers and its arch builds, runs and back-propagates */
  CHECK(eb_registry_load_plugin(reg, PLUGIN_GOOD, err, sizeof err) == 0,
        "good plugin: %s", err);
  const eb_arch *a = eb_registry_find_arch(reg, "tokenmlp");
  CHECK(a != NULL, "tokenmlp not registered by the plugin");
  if (a) {
    CHECK(strcmp(eb_registry_arch_origin(reg, a), PLUGIN_GOOD) == 0, "origin is '%s'",
          eb_registry_arch_origin(reg, a));
    /* its code digest is the .so file's SHA-256 (what `run` compares) */
    char want[65];
    int64_t bytes = 0;
    CHECK(eb_sha256_file(PLUGIN_GOOD, want, &bytes, err, sizeof err) == 0, "%s", err);
    const char *code = eb_registry_arch_code(reg, a);
    CHECK(code && !strcmp(code, want), "plugin code '%s', its file's SHA-256 %s",
          code ? code : "(null)", want);
    eb_model_config cfg = {
        .dim = 8, .depth = 2, .heads = 2, .ffn = 16, .pool = EB_POOL_MEAN};
    eb_model m;
    eb_arg av = {"mult", EB_P_INT, 3, 3, "3"};
    eb_args args = {1, &av};
    int rc = eb_model_create(&m, a, &cfg, &args, 10, 3, 6, 0, 1, err, sizeof err);
    CHECK(rc == 0, "plugin model: %s", err);
    if (rc == 0) {
      CHECK(eb_params_find(m.P, "blocks.1.w1")->shape[0] == 24, "mult=3 not applied");
      eb_ctx *ctx = eb_ctx_create(1 << 20, 0);
      int32_t tok[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 0}, lab[2] = {0, 2};
      uint8_t mask[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0};
      eb_batch b = {.B = 2, .N = 6, .tokens = tok, .mask = mask, .labels = lab};
      eb_tensor *loss = eb_model_loss(&m, ctx, &b, NULL, NULL, err, sizeof err);
      CHECK(loss && eb_backward(ctx, loss) == 0, "plugin forward/backward: %s", err);
      CHECK(eb_params_find(m.P, "blocks.0.w1")->grad[0] != 0,
            "no gradient reached the plugin");
      eb_ctx_destroy(ctx);
      eb_model_destroy(&m);
    }
  }

  /* the same plugin twice: duplicate name */
  CHECK(eb_registry_load_plugin(reg, PLUGIN_GOOD, err, sizeof err) != 0,
        "loading a plugin twice was accepted");
  CHECK(contains(err, "registered twice"), "duplicate message: %s", err);

  /* built against a core API this effbench cannot run: a newer minor, another
   * major, or plugin ABI generation 1 (no core API version recorded); each
   * refused as bad input with the file, both versions and the fix named */
  char host[32], newer[32], major[32];
  snprintf(host, sizeof host, "core API %d.%d", EB_CORE_API_MAJOR, EB_CORE_API_MINOR);
  snprintf(newer, sizeof newer, "core API %d.%d", EB_CORE_API_MAJOR,
           EB_CORE_API_MINOR + 1);
  snprintf(major, sizeof major, "core API %d.0", EB_CORE_API_MAJOR + 1);
  const struct {
    const char *path, *arch, *built, *why;
  } refused[] = {
      {PLUGIN_BADABI, "tokenmlp_v2", newer, "newer than"},
      {PLUGIN_BADMAJOR, "tokenmlp_major", major, "another major version"},
      {PLUGIN_ABI1, "tokenmlp_abi1", "plugin ABI 1,", "records no core API version"},
  };
  for (int i = 0; i < 3; i++) {
    int n_before = eb_registry_arch_count(reg);
    CHECK(eb_registry_load_plugin(reg, refused[i].path, err, sizeof err) == EB_INPUT,
          "%s: accepted, or not refused as bad input", refused[i].path);
    CHECK(contains(err, refused[i].path) && contains(err, refused[i].built) &&
              contains(err, host) && contains(err, refused[i].why) &&
              contains(err, "rebuild the plugin against the installed headers"),
          "version message of %s: %s", refused[i].path, err);
    CHECK(eb_registry_arch_count(reg) == n_before, "a refused arch was registered");
    CHECK(eb_registry_find_arch(reg, refused[i].arch) == NULL, "%s registered",
          refused[i].arch);
  }
  /* the same rule for a table registered directly, tasks too: a table of an
   * older minor of this major is accepted (when there is one) */
  eb_arch older = *eb_registry_find_arch(reg, "vanilla");
  older.name = "older_minor";
  older.abi_version = EB_ABI_ENCODE(EB_PLUGIN_ABI, EB_CORE_API_MAJOR, 0);
  CHECK(eb_register_arch(reg, &older) == 0, "core API %d.0 refused: %s",
        EB_CORE_API_MAJOR, eb_registry_error(reg));
  eb_task t_new = *eb_registry_find_task(reg, "majority");
  t_new.name = "newer_minor";
  t_new.abi_version = EFFBENCH_ABI_VERSION + 1;
  CHECK(eb_register_task(reg, &t_new) != 0, "a task of a newer minor accepted");
  CHECK(contains(eb_registry_error(reg), "task 'newer_minor' from built-in") &&
            contains(eb_registry_error(reg), newer),
        "task message: %s", eb_registry_error(reg));

  /* no entry point, missing file */
  CHECK(eb_registry_load_plugin(reg, PLUGIN_NOENTRY, err, sizeof err) != 0,
        "no entry accepted");
  CHECK(contains(err, "effbench_plugin_init"), "no-entry message: %s", err);
  CHECK(eb_registry_load_plugin(reg, "/nonexistent/x.so", err, sizeof err) != 0,
        "missing file accepted");
  CHECK(contains(err, "/nonexistent/x.so") && contains(err, "cannot load"), "missing: %s",
        err);

  /* a table shorter than the first ABI-1 one is refused */
  eb_arch shortt = *eb_registry_find_arch(reg, "vanilla");
  shortt.name = "short";
  shortt.struct_size = EB_ARCH_SIZE_V1 - sizeof(void *);
  CHECK(eb_register_arch(reg, &shortt) != 0, "short table accepted");
  CHECK(contains(eb_registry_error(reg), "bytes"), "short message: %s",
        eb_registry_error(reg));

  /* declared stats: moe declares its own; vanilla none */
  const eb_stat_decl *md = eb_arch_stat_decls(eb_registry_find_arch(reg, "moe"));
  int nmd = 0;
  for (; md && md[nmd].name; nmd++)
    CHECK(md[nmd].label && *md[nmd].label, "moe stat %s has no label", md[nmd].name);
  CHECK(nmd == 3 && !strcmp(md[0].name, "expert_load_max_over_mean") &&
            !strcmp(md[1].name, "dropped_fraction") && !strcmp(md[1].unit, "%") &&
            !strcmp(md[2].name, "aux_loss"),
        "moe declares %d stats", nmd);
  CHECK(eb_arch_stat_decls(eb_registry_find_arch(reg, "vanilla")) == NULL,
        "vanilla declares stats");
  /* a plugin declaring stats, and one built against the first ABI-1 header
   * (no stat_decls member: a shorter table) that still loads, declaring none */
  CHECK(eb_registry_load_plugin(reg, PLUGIN_STATS, err, sizeof err) == 0, "%s", err);
  const eb_stat_decl *sd =
      eb_arch_stat_decls(eb_registry_find_arch(reg, "tokenmlp_stats"));
  CHECK(sd && sd[0].name && !strcmp(sd[0].name, "hidden_width") &&
            !strcmp(sd[0].unit, "neurons") && sd[0].agg == EB_STAT_LAST && sd[1].name &&
            !sd[2].name,
        "tokenmlp_stats' declarations");
  CHECK(eb_registry_load_plugin(reg, PLUGIN_V1, err, sizeof err) == 0,
        "a plugin built against the first ABI-1 header: %s", err);
  const eb_arch *v1 = eb_registry_find_arch(reg, "tokenmlp_v1");
  CHECK(v1 && v1->struct_size == EB_ARCH_SIZE_V1 && v1->stats,
        "tokenmlp_v1 registered with its short table");
  CHECK(eb_arch_stat_decls(v1) == NULL, "stats read past an older table's end");
  if (v1) { /* it trains like any arch */
    eb_model_config cfg = {
        .dim = 8, .depth = 1, .heads = 2, .ffn = 16, .pool = EB_POOL_MEAN};
    eb_model m;
    eb_args args = {0, NULL};
    CHECK(eb_model_create(&m, v1, &cfg, &args, 10, 3, 6, 0, 1, err, sizeof err) == 0,
          "tokenmlp_v1 model: %s", err);
    eb_model_destroy(&m);
  }

  /* bad declarations are refused by name */
  static const eb_stat_decl twice[] = {
      {"a", "A", NULL, EB_STAT_MEAN, NULL}, {"a", "A", NULL, EB_STAT_SUM, NULL}, {NULL}};
  static const eb_stat_decl noname[] = {{"", "A", NULL, EB_STAT_MEAN, NULL}, {NULL}};
  static const eb_stat_decl badagg[] = {{"a", "A", NULL, (eb_stat_agg)9, NULL}, {NULL}};
  const struct {
    const eb_stat_decl *d;
    const char *want;
  } bad[] = {{twice, "declares stat 'a' twice"},
             {noname, "stat #1 with an empty name"},
             {badagg, "aggregation 9"}};
  for (int i = 0; i < 3; i++) {
    eb_arch t = *eb_registry_find_arch(reg, "vanilla");
    t.name = "declares";
    t.stat_decls = bad[i].d;
    CHECK(eb_register_arch(reg, &t) != 0, "bad declarations #%d accepted", i);
    CHECK(contains(eb_registry_error(reg), bad[i].want), "message: %s",
          eb_registry_error(reg));
  }
  CHECK(eb_registry_find_arch(reg, "declares") == NULL, "a refused arch registered");
  eb_registry_destroy(reg);

  /* directory search (EFFBENCH_PLUGIN_PATH style), missing dirs are skipped */
  reg = eb_registry_create();
  CHECK(eb_registry_load_path(reg, "/nonexistent:" PLUGIN_GOOD_DIR, err, sizeof err) == 0,
        "path: %s", err);
  CHECK(eb_registry_find_arch(reg, "tokenmlp") != NULL,
        "path search did not load tokenmlp");
  eb_registry_destroy(reg);
  return eb_test_done("test_registry");
}
