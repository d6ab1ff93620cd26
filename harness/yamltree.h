/* A YAML document as a small tree with source positions, read with libyaml.
 * Mapping keys keep their order; duplicate keys are an error. */
#ifndef EFFBENCH_YAMLTREE_H
#define EFFBENCH_YAMLTREE_H

#include <stddef.h>

typedef enum { EB_Y_SCALAR, EB_Y_SEQ, EB_Y_MAP } eb_ytype;

typedef struct eb_ynode eb_ynode;
struct eb_ynode {
  eb_ytype type;
  int line, col;    /* 1-based */
  char *value;      /* scalars */
  int quoted;       /* scalar was quoted: always a string */
  int n;            /* children (seq items, or map pairs) */
  eb_ynode **items; /* seq: n items; map: n values */
  char **keys;      /* map: n keys */
  int *key_line, *key_col;
};

/* Largest YAML text eb_yaml_parse accepts (a suite is a few kilobytes). */
#define EB_YAML_MAX_BYTES (1 << 20)

/* Parse text (named `file` in messages). Errors: "file:line:col: message".
 * Bounded: at most EB_YAML_MAX_BYTES of text, 64 levels of nesting and 100,000
 * nodes once aliases are expanded; past a bound it fails at once. EB_OK, or
 * EB_INPUT (the text) / EB_NOMEM with err. */
int eb_yaml_parse(const char *file, const char *text, size_t len, eb_ynode **root,
                  char *err, size_t errlen);
void eb_yaml_free(eb_ynode *n);
/* Map lookup (NULL if absent or not a map); index of key or -1. */
eb_ynode *eb_ymap_get(const eb_ynode *map, const char *key);
int eb_ymap_index(const eb_ynode *map, const char *key);

#endif
