/* Resolving user-given key=value settings against declared parameters (host
 * API: core/host/ is not the plugin ABI). Plugins read the resolved values
 * with eb_args_* (effbench/plugin.h); both sides live in core/args.c. */
#ifndef EFFBENCH_ARGS_H
#define EFFBENCH_ARGS_H

#include "effbench/plugin.h"

/* Owns the values behind an eb_args. */
typedef struct eb_argset {
  eb_args args;
  eb_arg *v;
  char *strings; /* one block for string values */
} eb_argset;

/* Parse text as a value of the given type into *out (strings point at text).
 * Returns 0, or -1 with a reason in why ("is not an integer"). */
int eb_parse_value(eb_ptype type, const char *text, eb_arg *out, char *why, size_t len);

/* Every declared parameter gets its default, then each keys[i]=vals[i] is
 * applied. Unknown names, bad values and values outside `choices` are errors
 * naming the owner ("arch 'vanilla'"), the parameter, the value and the valid
 * choices: EB_INPUT (an allocation failure: EB_NOMEM). */
int eb_argset_resolve(eb_argset *out, const char *owner, const eb_param_decl *decls,
                      int n, const char *const *keys, const char *const *vals, char *err,
                      size_t errlen);
void eb_argset_free(eb_argset *a);

/* Closest candidate by edit distance, or NULL if none is close. */
const char *eb_nearest(const char *word, const char *const *cands, int n);
const char *eb_type_name(eb_ptype t);

#endif
