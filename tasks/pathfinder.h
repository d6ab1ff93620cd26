/* Pathfinder image generator (Linsley et al., 2018, as used by LRA), exposed
 * so tests can check labels by construction. See tasks/pathfinder.c. */
#ifndef EFFBENCH_TASKS_PATHFINDER_H
#define EFFBENCH_TASKS_PATHFINDER_H

#include "effbench/plugin.h"

typedef struct eb_pf_config {
  int size;           /* image side in pixels */
  int contour_length; /* paddles per contour (difficulty) */
  int distractors;    /* extra unmarked contours (best effort) */
  int paddle_length;  /* pixels per paddle */
  int gap;            /* nominal empty pixels between consecutive paddles */
  int marker_radius;  /* radius of the two dots */
} eb_pf_config;

/* Resolve the task's parameters (0 = automatic, by size) into a config. */
int eb_pf_resolve(const eb_args *args, eb_pf_config *c, char *err, size_t errlen);

/* Consecutive paddles of one contour lie within this Chebyshev distance of
 * each other; pixels of different contours (dots included) never do. So a
 * flood fill over bright pixels that links pixels up to this distance apart
 * joins the two dots exactly when the label is 1. */
int eb_pf_link_radius(const eb_pf_config *c);

/* Draw example `index` of `split` for `seed` into img[size*size] (0
 * background, 255 strokes); dots[4] = x0, y0, x1, y1 of the two dot centres.
 * Returns the label (1 = the dots are joined by one contour, 0 = not), or -1
 * when no layout was found (the settings are too crowded for the size). */
int eb_pf_example(const eb_pf_config *c, uint64_t seed, int split, int64_t index,
                  uint8_t *img, int dots[4]);

#endif
