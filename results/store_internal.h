/* The store's SQLite handle, for the results layer's own readers and writers
 * (report, plot, merge, compare) and the store's tests: never included from
 * harness/, which asks the store through the named functions of store.h. */
#ifndef EFFBENCH_STORE_INTERNAL_H
#define EFFBENCH_STORE_INTERNAL_H

#include "store.h"

struct sqlite3;

/* The connection of an open store (owned by it: eb_store_close closes it). */
struct sqlite3 *eb_store_db(eb_store *s);

#endif
