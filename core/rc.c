/* Names of the result codes (include/effbench/rc.h), one per kind. */
#include "effbench/rc.h"

static const char *const RC_NAMES[] = {
    "ok",    "nomem",       "input",    "notfound", "io",     "db",
    "shape", "unsupported", "internal", "busy",     "failed",
};
_Static_assert(sizeof RC_NAMES / sizeof RC_NAMES[0] == EB_RC_COUNT,
               "one name per eb_rc kind");

const char *eb_rc_name(int rc) {
  return rc >= 0 && rc < EB_RC_COUNT ? RC_NAMES[rc] : "?";
}
