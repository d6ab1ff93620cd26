/* The registry of architectures and tasks: built-ins plus dlopen'ed plugins. */
#ifndef EFFBENCH_REGISTRY_H
#define EFFBENCH_REGISTRY_H

#include "effbench/plugin.h"

eb_registry *eb_registry_create(void);
void eb_registry_destroy(eb_registry *reg);
/* Register every built-in architecture and task (EB_INTERNAL with err when
 * one is refused). */
int eb_registry_add_builtins(eb_registry *reg, char *err, size_t errlen);
/* Load one plugin .so (calls its effbench_plugin_init). EB_OK, or EB_INPUT
 * with err: the file cannot be loaded, has no entry point or its init fails
 * (EB_NOMEM for an allocation failure). */
int eb_registry_load_plugin(eb_registry *reg, const char *path, char *err, size_t errlen);
/* Load every *.so in each directory of a ':'-separated list; fails as
 * eb_registry_load_plugin. */
int eb_registry_load_path(eb_registry *reg, const char *dirs, char *err, size_t errlen);
/* Builtins, then --plugin files, then EFFBENCH_PLUGIN_PATH; the first
 * failure's kind. */
int eb_registry_open_default(eb_registry *reg, int nplugins, char *const *plugins,
                             char *err, size_t errlen);

int eb_registry_arch_count(const eb_registry *reg);
const eb_arch *eb_registry_arch_at(const eb_registry *reg, int i);
const eb_arch *eb_registry_find_arch(const eb_registry *reg, const char *name);
int eb_registry_task_count(const eb_registry *reg);
const eb_task *eb_registry_task_at(const eb_registry *reg, int i);
const eb_task *eb_registry_find_task(const eb_registry *reg, const char *name);
/* The data source of a task's opened data, or NULL when the task does not
 * report one (no `source` member: a table built against the older header, or
 * NULL) or reports none. */
const eb_data_source *eb_task_source(const eb_task *t, void *data);
/* The stats an architecture declares (ended by {NULL}), or NULL when it
 * declares none: stat_decls NULL, or a table built against the older header
 * (struct_size EB_ARCH_SIZE_V1), which has no such member. */
const eb_stat_decl *eb_arch_stat_decls(const eb_arch *a);
/* Where an arch/task came from: "built-in" or the plugin path. */
const char *eb_registry_arch_origin(const eb_registry *reg, const eb_arch *a);
/* The SHA-256 (64 lowercase hex digits) of an arch's code: for a plugin's,
 * of its .so file as loaded; for a built-in, of its sources in archs/
 * (scripts/arch-code.cmake). NULL for a table registered otherwise (by a test,
 * say) or not registered. */
const char *eb_registry_arch_code(const eb_registry *reg, const eb_arch *a);
/* "a, b, c" list of names for error messages (static buffer of reg). */
const char *eb_registry_arch_names(eb_registry *reg);
const char *eb_registry_task_names(eb_registry *reg);
const char *eb_registry_error(const eb_registry *reg);
/* The message for an arch (is_arch) or task name that is not registered: the
 * nearest name, the available ones, and how a plugin's are loaded (--plugin,
 * EFFBENCH_PLUGIN_PATH and the plugins loaded now). */
void eb_registry_unknown(eb_registry *reg, int is_arch, const char *name, char *out,
                         size_t len);

#endif
