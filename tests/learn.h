/* The learning check shared by the end-to-end tests: train an architecture
 * on the built-in `majority` task (4 classes, chance 25 %) and require that
 * the run ends done, the loss falls below 0.6 of its start, and test accuracy
 * ends above 0.6. */
#ifndef EFFBENCH_TESTS_LEARN_H
#define EFFBENCH_TESTS_LEARN_H

#include "registry.h"

/* arch parameters as nkv keys/vals; prints one summary line (and the arch's
 * stats, if it has any). Failures are counted by CHECK. */
void eb_test_learns(eb_registry *reg, const char *arch, int nkv, const char *const *keys,
                    const char *const *vals, int steps);

#endif
