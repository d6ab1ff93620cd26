/* Matched models (`match: params|flops` in a suite): each arch's width is
 * chosen so that its parameter count, or its training FLOPs per token at the
 * task's length, comes closest to the reference arch's. Everything is counted
 * analytically (declared parameter shapes, the archs' flops()); nothing is
 * trained. */
#ifndef EFFBENCH_MATCH_H
#define EFFBENCH_MATCH_H

#include "suite.h"

/* Fill r's counts (params, flops_token, ref_params, ref_flops_token,
 * match_gap) and, unless r runs the reference arch itself, choose its width:
 * the model.dim (ffn scaled with it, keeping the ffn/dim ratio of r->model)
 * among those the arch accepts whose count is closest to the reference's,
 * counted with the reference arch `ref` (parameters ref_args) at
 * r->ref_model. info: the task's shape. 0, or -1 with why (no position):
 * no width of the arch is accepted, the count is unknown (no flops()), or the
 * closest width misses `tolerance`. */
int eb_match_run(eb_suite_run *r, eb_match_by by, const eb_arch *ref,
                 const eb_args *ref_args, double tolerance, const eb_task_info *info,
                 char *why, size_t whylen);

#endif
