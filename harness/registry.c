/* Registry: a list of architecture and task tables. Built-ins and plugins go
 * through the same eb_register_* calls, which check the ABI version and the
 * table size before accepting anything. */
#include "registry.h"

#include "args.h"
#include "source.h" /* eb_sha256_file: a plugin's code digest */

#include <dirent.h>
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REG_MAX 128

struct eb_registry {
  const eb_arch *arch[REG_MAX];
  const char *arch_origin[REG_MAX];
  const char *arch_code[REG_MAX]; /* SHA-256 hex of its code, NULL unknown */
  int narch;
  const eb_task *task[REG_MAX];
  const char *task_origin[REG_MAX];
  int ntask;
  const char *loading;      /* origin of the plugin being initialised */
  const char *loading_code; /* its .so's SHA-256 (hex) */
  const char *builtin_code; /* the built-in being registered: its sources' */
  void *handles[REG_MAX];
  char *paths[REG_MAX];
  char codes[REG_MAX][65];
  int nhandles;
  char err[EB_ERR_LEN];
  char names[2048];
};

static void reg_error(eb_registry *reg, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reg->err, sizeof reg->err, fmt, ap);
  va_end(ap);
}

eb_registry *eb_registry_create(void) { return calloc(1, sizeof(eb_registry)); }

void eb_registry_destroy(eb_registry *reg) {
  if (!reg) return;
  /* Plugins stay mapped until exit: their tables may still be referenced. */
  for (int i = 0; i < reg->nhandles; i++)
    free(reg->paths[i]);
  free(reg);
}

const char *eb_registry_error(const eb_registry *reg) { return reg->err; }

/* Refuses a table whose abi_version the host cannot run (EB_ABI_COMPATIBLE)
 * with a message naming both versions and the fix; 0 when it can. */
static int check_version(eb_registry *reg, const char *kind, const char *name,
                         const char *from, int abi) {
  const int host = EFFBENCH_ABI_VERSION;
  if (EB_ABI_COMPATIBLE(host, abi)) return 0;
  const char *fix = "rebuild the plugin against the installed headers of this effbench";
  if (EB_ABI_GENERATION(abi) == 0) { /* not encoded: generation 1 recorded 1 */
    reg_error(reg,
              "%s '%s' from %s was built for effbench plugin ABI %d, which records no "
              "core API version (from before the core API was versioned); this "
              "effbench has plugin ABI %d with core API %d.%d: %s",
              kind, name, from, abi, EB_PLUGIN_ABI, EB_CORE_API_MAJOR, EB_CORE_API_MINOR,
              fix);
  } else if (EB_ABI_GENERATION(abi) != EB_PLUGIN_ABI) {
    reg_error(reg,
              "%s '%s' from %s was built for effbench plugin ABI %d (abi_version %d), "
              "this effbench has plugin ABI %d: %s",
              kind, name, from, EB_ABI_GENERATION(abi), abi, EB_PLUGIN_ABI, fix);
  } else if (EB_ABI_CORE_MAJOR(abi) != EB_CORE_API_MAJOR) {
    reg_error(reg,
              "%s '%s' from %s was built against effbench core API %d.%d, this effbench "
              "has core API %d.%d (another major version: functions or structs the "
              "plugin uses differ): %s",
              kind, name, from, EB_ABI_CORE_MAJOR(abi), EB_ABI_CORE_MINOR(abi),
              EB_CORE_API_MAJOR, EB_CORE_API_MINOR, fix);
  } else {
    reg_error(reg,
              "%s '%s' from %s was built against effbench core API %d.%d, newer than "
              "this effbench, which has core API %d.%d (the plugin may use what this "
              "one lacks): %s, or use an effbench with core API %d.%d or a later %d.x",
              kind, name, from, EB_ABI_CORE_MAJOR(abi), EB_ABI_CORE_MINOR(abi),
              EB_CORE_API_MAJOR, EB_CORE_API_MINOR, fix, EB_ABI_CORE_MAJOR(abi),
              EB_ABI_CORE_MINOR(abi), EB_ABI_CORE_MAJOR(abi));
  }
  return -1;
}

static int check_abi(eb_registry *reg, const char *kind, const char *name, int abi,
                     size_t size, size_t host_size) {
  const char *from = reg->loading ? reg->loading : "built-in";
  if (check_version(reg, kind, name ? name : "?", from, abi)) return -1;
  if (size < host_size) {
    reg_error(
        reg,
        "%s '%s' from %s has a table of %zu bytes, this effbench expects %zu: rebuild "
        "the plugin against the installed headers",
        kind, name ? name : "?", from, size, host_size);
    return -1;
  }
  if (!name || !*name) {
    reg_error(reg, "%s from %s has no name", kind, from);
    return -1;
  }
  return 0;
}

const eb_stat_decl *eb_arch_stat_decls(const eb_arch *a) {
  if (!a || a->struct_size < offsetof(eb_arch, stat_decls) + sizeof(a->stat_decls))
    return NULL;
  return a->stat_decls;
}

/* A declared stat needs a name, used once, and a known aggregation: the
 * report's columns are keyed by them. */
static int check_stat_decls(eb_registry *reg, const eb_arch *a) {
  const eb_stat_decl *d = eb_arch_stat_decls(a);
  const char *from = reg->loading ? reg->loading : "built-in";
  for (int i = 0; d && d[i].name; i++) {
    if (!d[i].name[0]) {
      reg_error(reg, "architecture '%s' from %s declares stat #%d with an empty name",
                a->name, from, i + 1);
      return -1;
    }
    if ((unsigned)d[i].agg > EB_STAT_MAX) {
      reg_error(reg,
                "architecture '%s' from %s declares stat '%s' with aggregation %d "
                "(expected EB_STAT_MEAN, _LAST, _SUM, _MIN or _MAX)",
                a->name, from, d[i].name, (int)d[i].agg);
      return -1;
    }
    for (int j = 0; j < i; j++)
      if (!strcmp(d[j].name, d[i].name)) {
        reg_error(reg, "architecture '%s' from %s declares stat '%s' twice", a->name,
                  from, d[i].name);
        return -1;
      }
  }
  return 0;
}

int eb_register_arch(eb_registry *reg, const eb_arch *a) {
  if (!a) {
    reg_error(reg, "NULL architecture table");
    return -1;
  }
  /* a table that ends before `stat_decls` (EB_ARCH_SIZE_V1) is accepted */
  if (check_abi(reg, "architecture", a->name, a->abi_version, a->struct_size,
                EB_ARCH_SIZE_V1))
    return -1;
  if (!a->create || !a->forward) {
    reg_error(reg, "architecture '%s' lacks create or forward", a->name);
    return -1;
  }
  if (check_stat_decls(reg, a)) return -1;
  if (eb_registry_find_arch(reg, a->name)) {
    reg_error(reg, "architecture '%s' is registered twice (%s and %s)", a->name,
              eb_registry_arch_origin(reg, eb_registry_find_arch(reg, a->name)),
              reg->loading ? reg->loading : "built-in");
    return -1;
  }
  if (reg->narch == REG_MAX) {
    reg_error(reg, "too many architectures (max %d)", REG_MAX);
    return -1;
  }
  reg->arch_origin[reg->narch] = reg->loading;
  reg->arch_code[reg->narch] = reg->loading ? reg->loading_code : reg->builtin_code;
  reg->arch[reg->narch++] = a;
  return 0;
}

int eb_register_task(eb_registry *reg, const eb_task *t) {
  if (!t) {
    reg_error(reg, "NULL task table");
    return -1;
  }
  /* a table that ends before `source` (EB_TASK_SIZE_V1) is accepted */
  if (check_abi(reg, "task", t->name, t->abi_version, t->struct_size, EB_TASK_SIZE_V1))
    return -1;
  if (!t->open || !t->batch) {
    reg_error(reg, "task '%s' lacks open or batch", t->name);
    return -1;
  }
  if (eb_registry_find_task(reg, t->name)) {
    reg_error(reg, "task '%s' is registered twice", t->name);
    return -1;
  }
  if (reg->ntask == REG_MAX) {
    reg_error(reg, "too many tasks (max %d)", REG_MAX);
    return -1;
  }
  reg->task_origin[reg->ntask] = reg->loading;
  reg->task[reg->ntask++] = t;
  return 0;
}

const eb_data_source *eb_task_source(const eb_task *t, void *data) {
  if (!t || !data || t->struct_size < offsetof(eb_task, source) + sizeof(t->source) ||
      !t->source)
    return NULL;
  const eb_data_source *s = t->source(data);
  return s && s->kind && *s->kind ? s : NULL;
}

int eb_registry_load_plugin(eb_registry *reg, const char *path, char *err,
                            size_t errlen) {
  if (reg->nhandles == REG_MAX) {
    snprintf(err, errlen, "plugin %s: too many plugins (max %d)", path, REG_MAX);
    return EB_INPUT;
  }
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    snprintf(err, errlen, "plugin %s: cannot load: %s", path, dlerror());
    return EB_INPUT;
  }
  eb_plugin_init_fn init;
  *(void **)(&init) = dlsym(h, EFFBENCH_PLUGIN_INIT_SYMBOL);
  if (!init) {
    snprintf(err, errlen, "plugin %s: no %s() entry point", path,
             EFFBENCH_PLUGIN_INIT_SYMBOL);
    dlclose(h);
    return EB_INPUT;
  }
  /* the digest of the file as loaded: `run` compares it with the one each
   * done run recorded (a rebuilt plugin is new code for its archs) */
  char *code = reg->codes[reg->nhandles], why[EB_ERR_LEN];
  int64_t bytes = 0;
  if (eb_sha256_file(path, code, &bytes, why, sizeof why)) {
    snprintf(err, errlen, "plugin %s: cannot read it for its checksum: %s", path, why);
    dlclose(h);
    return EB_INPUT;
  }
  char *p = strdup(path);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    dlclose(h);
    return EB_NOMEM;
  }
  reg->handles[reg->nhandles] = h;
  reg->paths[reg->nhandles++] = p;
  reg->loading = p;
  reg->loading_code = code;
  reg->err[0] = '\0';
  int rc = init(reg, EFFBENCH_ABI_VERSION);
  reg->loading = NULL;
  reg->loading_code = NULL;
  if (rc != 0) {
    snprintf(err, errlen, "plugin %s: %s", path,
             reg->err[0] ? reg->err : "its init function reported failure");
    return EB_INPUT;
  }
  return EB_OK;
}

static int ends_with_so(const char *s) {
  size_t n = strlen(s);
  return n > 3 && strcmp(s + n - 3, ".so") == 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int eb_registry_load_path(eb_registry *reg, const char *dirs, char *err, size_t errlen) {
  char *copy = strdup(dirs);
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return EB_NOMEM;
  }
  int rc = EB_OK;
  for (char *save = NULL, *d = strtok_r(copy, ":", &save); d && rc == 0;
       d = strtok_r(NULL, ":", &save)) {
    DIR *dir = opendir(d);
    if (!dir) continue; /* a missing directory in a search path is not an error */
    char *names[REG_MAX];
    int n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL && n < REG_MAX && rc == 0;)
      if (ends_with_so(e->d_name) && !(names[n++] = strdup(e->d_name))) {
        snprintf(err, errlen, "out of memory listing the plugins in %s", d);
        rc = EB_NOMEM;
      }
    closedir(dir);
    if (rc) {
      for (int i = 0; i < n; i++)
        free(names[i]);
      break;
    }
    qsort(names, n, sizeof *names, cmp_str); /* load order independent of readdir */
    for (int i = 0; i < n; i++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", d, names[i]);
      if (rc == 0) rc = eb_registry_load_plugin(reg, path, err, errlen);
      free(names[i]);
    }
  }
  free(copy);
  return rc;
}

/* Built-in tables, defined in archs/ and tasks/; each arch's code digest, in
 * arch_code.c generated from archs/ by scripts/arch-code.cmake. */
extern const eb_arch eb_arch_vanilla;
extern const eb_arch eb_arch_linformer;
extern const eb_arch eb_arch_performer;
extern const eb_arch eb_arch_wide;
extern const eb_arch eb_arch_poolformer;
extern const eb_arch eb_arch_mamba;
extern const eb_arch eb_arch_moe;
extern const char eb_arch_code_vanilla[], eb_arch_code_linformer[],
    eb_arch_code_performer[], eb_arch_code_wide[], eb_arch_code_poolformer[],
    eb_arch_code_mamba[], eb_arch_code_moe[];
extern const eb_task eb_task_majority;
extern const eb_task eb_task_listops;
extern const eb_task eb_task_mqar;
extern const eb_task eb_task_selective_copy;
extern const eb_task eb_task_image;
extern const eb_task eb_task_pathfinder;
extern const eb_task eb_task_pathx;
extern const eb_task eb_task_text;
extern const eb_task eb_task_retrieval;

int eb_registry_add_builtins(eb_registry *reg, char *err, size_t errlen) {
  const struct {
    const eb_arch *arch;
    const char *code;
  } archs[] = {{&eb_arch_vanilla, eb_arch_code_vanilla},
               {&eb_arch_poolformer, eb_arch_code_poolformer},
               {&eb_arch_mamba, eb_arch_code_mamba},
               {&eb_arch_moe, eb_arch_code_moe},
               {&eb_arch_linformer, eb_arch_code_linformer},
               {&eb_arch_performer, eb_arch_code_performer},
               {&eb_arch_wide, eb_arch_code_wide}};
  const eb_task *tasks[] = {
      &eb_task_majority,       &eb_task_listops, &eb_task_mqar,
      &eb_task_selective_copy, &eb_task_image,   &eb_task_pathfinder,
      &eb_task_pathx,          &eb_task_text,    &eb_task_retrieval};
  for (size_t i = 0; i < sizeof archs / sizeof *archs; i++) {
    reg->builtin_code = archs[i].code;
    int rc = eb_register_arch(reg, archs[i].arch);
    reg->builtin_code = NULL;
    if (rc) goto fail;
  }
  for (size_t i = 0; i < sizeof tasks / sizeof *tasks; i++)
    if (eb_register_task(reg, tasks[i])) goto fail;
  return EB_OK;
fail:
  snprintf(err, errlen, "%s", reg->err);
  return EB_INTERNAL; /* a built-in table the registry refuses: a bug */
}

int eb_registry_open_default(eb_registry *reg, int nplugins, char *const *plugins,
                             char *err, size_t errlen) {
  int rc = eb_registry_add_builtins(reg, err, errlen);
  for (int i = 0; !rc && i < nplugins; i++)
    rc = eb_registry_load_plugin(reg, plugins[i], err, errlen);
  const char *path = getenv("EFFBENCH_PLUGIN_PATH");
  if (!rc && path && *path) rc = eb_registry_load_path(reg, path, err, errlen);
  return rc;
}

int eb_registry_arch_count(const eb_registry *reg) { return reg->narch; }
const eb_arch *eb_registry_arch_at(const eb_registry *reg, int i) {
  return i >= 0 && i < reg->narch ? reg->arch[i] : NULL;
}
const eb_arch *eb_registry_find_arch(const eb_registry *reg, const char *name) {
  for (int i = 0; i < reg->narch; i++)
    if (strcmp(reg->arch[i]->name, name) == 0) return reg->arch[i];
  return NULL;
}
int eb_registry_task_count(const eb_registry *reg) { return reg->ntask; }
const eb_task *eb_registry_task_at(const eb_registry *reg, int i) {
  return i >= 0 && i < reg->ntask ? reg->task[i] : NULL;
}
const eb_task *eb_registry_find_task(const eb_registry *reg, const char *name) {
  for (int i = 0; i < reg->ntask; i++)
    if (strcmp(reg->task[i]->name, name) == 0) return reg->task[i];
  return NULL;
}
const char *eb_registry_arch_origin(const eb_registry *reg, const eb_arch *a) {
  for (int i = 0; i < reg->narch; i++)
    if (reg->arch[i] == a) return reg->arch_origin[i] ? reg->arch_origin[i] : "built-in";
  return "?";
}

const char *eb_registry_arch_code(const eb_registry *reg, const eb_arch *a) {
  for (int i = 0; reg && i < reg->narch; i++)
    if (reg->arch[i] == a) return reg->arch_code[i];
  return NULL;
}

static const char *join_names(eb_registry *reg, int n,
                              const char *(*name_at)(eb_registry *, int)) {
  size_t off = 0;
  reg->names[0] = '\0';
  for (int i = 0; i < n && off < sizeof reg->names; i++)
    off += snprintf(reg->names + off, sizeof reg->names - off, "%s%s", i ? ", " : "",
                    name_at(reg, i));
  return reg->names;
}
static const char *arch_name_at(eb_registry *r, int i) { return r->arch[i]->name; }
static const char *task_name_at(eb_registry *r, int i) { return r->task[i]->name; }
const char *eb_registry_arch_names(eb_registry *reg) {
  return join_names(reg, reg->narch, arch_name_at);
}
const char *eb_registry_task_names(eb_registry *reg) {
  return join_names(reg, reg->ntask, task_name_at);
}

void eb_registry_unknown(eb_registry *reg, int is_arch, const char *name, char *out,
                         size_t len) {
  const char *cands[REG_MAX] = {0};
  int n = is_arch ? reg->narch : reg->ntask;
  for (int i = 0; i < n; i++)
    cands[i] = is_arch ? reg->arch[i]->name : reg->task[i]->name;
  const char *near = eb_nearest(name, cands, n);
  int off = snprintf(out, len, "unknown %s '%s'%s%s%s (available: %s)",
                     is_arch ? "arch" : "task", name, near ? "; did you mean '" : "",
                     near ? near : "", near ? "'?" : "",
                     is_arch ? eb_registry_arch_names(reg) : eb_registry_task_names(reg));
  if (off < 0 || (size_t)off >= len) return;
  /* a name that is not built in may be a plugin's: say how one is loaded */
  const char *path = getenv("EFFBENCH_PLUGIN_PATH");
  size_t o = (size_t)off;
  o += (size_t)snprintf(out + o, len - o,
                        ". %s from a plugin are loaded with --plugin FILE.so or from the "
                        "directories in EFFBENCH_PLUGIN_PATH (%s%s%s); ",
                        is_arch ? "Architectures" : "Tasks", path && *path ? "now '" : "",
                        path && *path ? path : "unset", path && *path ? "'" : "");
  if (o >= len) return;
  if (!reg->nhandles) {
    snprintf(out + o, len - o, "no plugin is loaded");
    return;
  }
  o += (size_t)snprintf(out + o, len - o, "loaded:");
  for (int i = 0; i < reg->nhandles && o < len; i++)
    o += (size_t)snprintf(out + o, len - o, "%s %s", i ? "," : "", reg->paths[i]);
}
