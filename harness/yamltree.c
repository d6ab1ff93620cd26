#include "yamltree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "effbench/rc.h"

/* Bounds that make a hostile file fail in milliseconds instead of expanding:
 * libyaml keeps an alias as a reference, but the tree below copies it, so a
 * few nested aliases ("billion laughs") would expand exponentially; and the
 * scanner's time grows with the square of the flow nesting depth, so depth is
 * checked on the event stream before the document is built. */
#define EB_YAML_MAX_DEPTH 64
#define EB_YAML_MAX_NODES 100000 /* nodes after aliases are expanded */

static eb_ynode *node_new(eb_ytype t, yaml_mark_t m) {
  eb_ynode *n = calloc(1, sizeof *n);
  if (!n) return NULL;
  n->type = t;
  n->line = (int)m.line + 1;
  n->col = (int)m.column + 1;
  return n;
}

void eb_yaml_free(eb_ynode *n) {
  if (!n) return;
  for (int i = 0; i < n->n; i++) {
    eb_yaml_free(n->items[i]);
    if (n->keys) free(n->keys[i]);
  }
  free(n->items);
  free(n->keys);
  free(n->key_line);
  free(n->key_col);
  free(n->value);
  free(n);
}

static int grow(eb_ynode *n, int with_keys) {
  if ((n->n & (n->n - 1)) == 0) { /* capacity doubles at powers of two */
    int cap = n->n ? 2 * n->n : 1;
    eb_ynode **it = realloc(n->items, (size_t)cap * sizeof *it);
    if (!it) return -1;
    n->items = it;
    if (with_keys) {
      char **k = realloc(n->keys, (size_t)cap * sizeof *k);
      if (!k) return -1;
      n->keys = k;
      int *kl = realloc(n->key_line, (size_t)cap * sizeof *kl);
      if (!kl) return -1;
      n->key_line = kl;
      int *kc = realloc(n->key_col, (size_t)cap * sizeof *kc);
      if (!kc) return -1;
      n->key_col = kc;
    }
  }
  return 0;
}

/* What convert has left to spend, and whether it ran out of memory. */
typedef struct ybudget {
  long nodes;
  int oom;
} ybudget;

static eb_ynode *convert(const char *file, yaml_document_t *doc, yaml_node_t *y,
                         int depth, ybudget *budget, char *err, size_t errlen) {
  if (depth > EB_YAML_MAX_DEPTH) {
    snprintf(err, errlen, "%s:%zu:%zu: nesting too deep (more than %d levels)", file,
             y->start_mark.line + 1, y->start_mark.column + 1, EB_YAML_MAX_DEPTH);
    return NULL;
  }
  if (--budget->nodes < 0) {
    snprintf(err, errlen,
             "%s:%zu:%zu: the document expands to more than %d nodes (aliases of "
             "aliases?)",
             file, y->start_mark.line + 1, y->start_mark.column + 1, EB_YAML_MAX_NODES);
    return NULL;
  }
  if (y->type == YAML_SCALAR_NODE) {
    eb_ynode *n = node_new(EB_Y_SCALAR, y->start_mark);
    if (!n) goto oom;
    n->value = strndup((const char *)y->data.scalar.value, y->data.scalar.length);
    n->quoted = y->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                y->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (!n->value) {
      eb_yaml_free(n);
      goto oom;
    }
    return n;
  }
  if (y->type == YAML_SEQUENCE_NODE) {
    eb_ynode *n = node_new(EB_Y_SEQ, y->start_mark);
    if (!n) goto oom;
    for (yaml_node_item_t *it = y->data.sequence.items.start;
         it < y->data.sequence.items.top; it++) {
      eb_ynode *c = convert(file, doc, yaml_document_get_node(doc, *it), depth + 1,
                            budget, err, errlen);
      if (!c || grow(n, 0)) {
        eb_yaml_free(c);
        eb_yaml_free(n);
        if (!c) return NULL;
        goto oom;
      }
      n->items[n->n++] = c;
    }
    return n;
  }
  if (y->type == YAML_MAPPING_NODE) {
    eb_ynode *n = node_new(EB_Y_MAP, y->start_mark);
    if (!n) goto oom;
    for (yaml_node_pair_t *p = y->data.mapping.pairs.start; p < y->data.mapping.pairs.top;
         p++) {
      yaml_node_t *k = yaml_document_get_node(doc, p->key);
      if (k->type != YAML_SCALAR_NODE) {
        snprintf(err, errlen, "%s:%zu:%zu: a key must be a plain name", file,
                 k->start_mark.line + 1, k->start_mark.column + 1);
        eb_yaml_free(n);
        return NULL;
      }
      char *key = strndup((const char *)k->data.scalar.value, k->data.scalar.length);
      if (!key) {
        eb_yaml_free(n);
        goto oom;
      }
      int dup = eb_ymap_index(n, key);
      if (dup >= 0) {
        snprintf(err, errlen, "%s:%zu:%zu: duplicate key '%s' (first at line %d)", file,
                 k->start_mark.line + 1, k->start_mark.column + 1, key, n->key_line[dup]);
        free(key);
        eb_yaml_free(n);
        return NULL;
      }
      eb_ynode *c = convert(file, doc, yaml_document_get_node(doc, p->value), depth + 1,
                            budget, err, errlen);
      if (!c || grow(n, 1)) {
        free(key);
        eb_yaml_free(c);
        eb_yaml_free(n);
        if (!c) return NULL;
        goto oom;
      }
      n->keys[n->n] = key;
      n->key_line[n->n] = (int)k->start_mark.line + 1;
      n->key_col[n->n] = (int)k->start_mark.column + 1;
      n->items[n->n++] = c;
    }
    return n;
  }
  snprintf(err, errlen, "%s: empty YAML node", file);
  return NULL;
oom:
  snprintf(err, errlen, "%s: out of memory", file);
  budget->oom = 1;
  return NULL;
}

/* Fills err for a parse that failed; returns its kind. libyaml names every
 * input error (error and problem set); a failed allocation sets only
 * YAML_MEMORY_ERROR, and some of its loader's allocations (a tag's copy)
 * fail with no error at all: both are out of memory, not a bad file. */
static int parse_error(const char *file, const yaml_parser_t *p, char *err,
                       size_t errlen) {
  if (p->error == YAML_MEMORY_ERROR || p->error == YAML_NO_ERROR) {
    snprintf(err, errlen, "%s: out of memory while parsing the YAML", file);
    return EB_NOMEM;
  }
  snprintf(err, errlen, "%s:%zu:%zu: %s%s%s", file, p->problem_mark.line + 1,
           p->problem_mark.column + 1, p->problem ? p->problem : "syntax error",
           p->context ? " " : "", p->context ? p->context : "");
  return EB_INPUT;
}

/* The event stream once through, only to bound the nesting depth before
 * yaml_parser_load builds the document (see EB_YAML_MAX_DEPTH). */
static int check_depth(const char *file, const char *text, size_t len, char *err,
                       size_t errlen) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) {
    snprintf(err, errlen, "%s: cannot initialise the YAML parser", file);
    return EB_NOMEM; /* libyaml fails here only to allocate */
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  int depth = 0, rc = EB_OK;
  for (int done = 0; !done && !rc;) {
    yaml_event_t ev;
    if (!yaml_parser_parse(&parser, &ev)) {
      rc = parse_error(file, &parser, err, errlen);
      break;
    }
    if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
      if (++depth > EB_YAML_MAX_DEPTH) {
        snprintf(err, errlen, "%s:%zu:%zu: nesting too deep (more than %d levels)", file,
                 ev.start_mark.line + 1, ev.start_mark.column + 1, EB_YAML_MAX_DEPTH);
        rc = EB_INPUT;
      }
    } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
      depth--;
    }
    done = ev.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&parser);
  return rc;
}

int eb_yaml_parse(const char *file, const char *text, size_t len, eb_ynode **root,
                  char *err, size_t errlen) {
  *root = NULL;
  if (len > EB_YAML_MAX_BYTES) {
    snprintf(err, errlen, "%s: %zu bytes; a YAML file here may have at most %d", file,
             len, EB_YAML_MAX_BYTES);
    return EB_INPUT;
  }
  int rc = check_depth(file, text, len, err, errlen);
  if (rc) return rc;
  yaml_parser_t parser;
  yaml_document_t doc;
  if (!yaml_parser_initialize(&parser)) {
    snprintf(err, errlen, "%s: cannot initialise the YAML parser", file);
    return EB_NOMEM; /* libyaml fails here only to allocate */
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    rc = parse_error(file, &parser, err, errlen);
    yaml_parser_delete(&parser);
    return rc;
  }
  yaml_node_t *top = yaml_document_get_root_node(&doc);
  if (!top) {
    snprintf(err, errlen, "%s: the file is empty", file);
    rc = EB_INPUT;
  } else {
    ybudget b = {EB_YAML_MAX_NODES, 0};
    *root = convert(file, &doc, top, 0, &b, err, errlen);
    if (!*root) rc = b.oom ? EB_NOMEM : EB_INPUT;
  }
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}

int eb_ymap_index(const eb_ynode *map, const char *key) {
  if (!map || map->type != EB_Y_MAP) return -1;
  for (int i = 0; i < map->n; i++)
    if (strcmp(map->keys[i], key) == 0) return i;
  return -1;
}

eb_ynode *eb_ymap_get(const eb_ynode *map, const char *key) {
  int i = eb_ymap_index(map, key);
  return i < 0 ? NULL : map->items[i];
}
