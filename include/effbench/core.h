/* effbench core API: tensors, the per-step context (arena + tape + FLOP counter),
 * parameters, the counter-based RNG and the differentiable ops.
 *
 * This header and plugin.h are the whole public surface: an architecture plugin
 * builds its forward pass from the ops below, and backward, FLOP counting and
 * memory tracking come with them.
 *
 * Conventions
 *  - float32, row-major, up to 4 dims. Shapes are written [B,N,D] in comments.
 *  - Every op takes the context first, returns a new tensor allocated in the
 *    step arena, and returns NULL on error (the message is in eb_ctx_error(),
 *    its kind, an eb_rc of effbench/rc.h, in eb_ctx_rc()).
 *    Every op also returns NULL when any tensor argument is NULL, so a chain of
 *    ops needs one NULL check at its end.
 *  - When gradients are enabled (eb_ctx_set_grad) and any input requires a
 *    gradient, the op records itself on the tape; eb_backward() replays the tape
 *    in reverse and accumulates (+=) into every input gradient.
 *  - Activation gradients are allocated lazily (in the arena) the first time
 *    backward writes them: zeroed, or left uninitialised for a built-in op that
 *    overwrites the whole buffer; parameter gradients live in the parameter block.
 *  - FLOPs: each op adds the arithmetic it performs to the context's counter,
 *    forward and backward separately. docs/flops.md lists the count of every op.
 */
#ifndef EFFBENCH_CORE_H
#define EFFBENCH_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "effbench/rc.h"
#include "effbench/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------ API version ---- */
/* The version of the public API: every declaration under include/effbench/
 * (this header, plugin.h, rc.h). A plugin calls the eb_* functions of the
 * executable, resolved when it is loaded, and shares these structs with it,
 * so their signatures and layouts are ABI: each table a plugin registers
 * records the version it was compiled against (abi_version, through
 * EFFBENCH_ABI_VERSION), and the registry refuses a table of another major or
 * of a newer minor than its own (docs/plugins.md, "Versioning").
 *   MAJOR: a change that can break a plugin compiled before it: a function's
 *          signature or meaning, a struct's layout (beyond an appended member
 *          the host reads only when struct_size covers it), an enum value or
 *          macro value a plugin compiles in, a removed declaration. MINOR
 *          goes back to 0.
 *   MINOR: a change that only adds: a function, a type, a macro, an enum
 *          value at the end, a struct member appended as above.
 * EB_CORE_API_DIGEST is the SHA-256 of the declarations of every header
 * under include/effbench/ at this version (comments, whitespace, include
 * guards and #include lines left out, top-level declarations in sorted
 * order): tests/test_core_api.c recomputes it and fails on any difference,
 * asking for a bump and the new digest (docs/engine.md, "Versioning the core
 * API"). */
#define EB_CORE_API_MAJOR 1
#define EB_CORE_API_MINOR 0
#define EB_CORE_API_VERSION (EB_CORE_API_MAJOR * 1000 + EB_CORE_API_MINOR)
#define EB_CORE_API_DIGEST                                                               \
  "a93b2e0df91efe213ccbdb1cacce9f3172cd58614f9cc60fd079467dc613324d"

#define EB_MAX_DIMS 4
#define EB_ERR_LEN 512

typedef struct eb_tensor {
  float *data;
  float *grad;  /* NULL until backward writes it (activations) */
  int64_t size; /* product of shape */
  int ndim;
  int shape[EB_MAX_DIMS];
  int requires_grad; /* gradient flows into this tensor */
  int is_param;      /* lives in the parameter block */
  const char *name;  /* parameters only */
} eb_tensor;

/* The RNG (eb_rng, eb_rng_*) is in effbench/rng.h, included above. */

/* ---------------------------------------------------------- context ---- */
typedef struct eb_ctx eb_ctx;

typedef struct eb_flops {
  double forward;
  double backward;
} eb_flops;

/* arena_bytes is the initial arena capacity; the arena grows on demand. */
eb_ctx *eb_ctx_create(size_t arena_bytes, uint64_t seed);
void eb_ctx_destroy(eb_ctx *ctx);
/* Forget the tape and free every activation (call after the optimizer step). */
void eb_ctx_reset(eb_ctx *ctx);
void eb_ctx_set_grad(eb_ctx *ctx, int enabled);      /* record the tape? */
void eb_ctx_set_training(eb_ctx *ctx, int training); /* dropout active? */
int eb_ctx_training(const eb_ctx *ctx);
/* Per-step dropout seed: the harness sets it to (step); masks depend only on
 * (ctx seed, step seed, op index in the step, element index). */
void eb_ctx_set_step(eb_ctx *ctx, uint64_t step);
uint64_t eb_ctx_step(const eb_ctx *ctx); /* the value last given to set_step */
/* The last failure since eb_ctx_reset: its message ("" when none) and its
 * kind (EB_OK when none), recorded together by eb_ctx_fail (a later failure
 * replaces both). An op given a NULL argument records nothing, so after a
 * chain of ops they describe the failure that broke it. */
const char *eb_ctx_error(const eb_ctx *ctx);
eb_rc eb_ctx_rc(const eb_ctx *ctx);
void eb_ctx_fail(eb_ctx *ctx, eb_rc rc, const char *fmt, ...);
/* eb_ctx_fail with the kind EB_INTERNAL (kept for plugins written before kinds). */
void eb_ctx_set_error(eb_ctx *ctx, const char *fmt, ...);
eb_flops eb_ctx_flops(const eb_ctx *ctx);
void eb_ctx_reset_flops(eb_ctx *ctx);
void eb_ctx_add_flops(eb_ctx *ctx, double forward, double backward);
/* Of the FLOPs added above, those that recompute forward work during backward
 * (blockwise attention's score blocks, the checkpointed scan): executed FLOPs
 * are forward + backward, model FLOPs are that minus these. Reset with the FLOPs. */
void eb_ctx_add_recompute(eb_ctx *ctx, double flops);
double eb_ctx_recompute(const eb_ctx *ctx);
/* GEMM FLOPs executed since the last eb_ctx_reset_flops: 2*m*n*k of every
 * matrix product the engine ran, taken from that product's own m, n and k as
 * it runs (each GEMM call, and the score and value block products inside
 * blockwise attention), independently of the per-op formulas above; forward
 * and backward, recompute included. eb_ctx_gemm_recompute is the part that
 * redoes forward products in a backward (blockwise attention's scores), so
 * model GEMM FLOPs = eb_ctx_gemm_flops - eb_ctx_gemm_recompute. Exact integers
 * (below 2^53), independent of the thread count. docs/flops.md, "GEMM FLOPs". */
double eb_ctx_gemm_flops(const eb_ctx *ctx);
double eb_ctx_gemm_recompute(const eb_ctx *ctx);
/* Bytes an op reads and writes in main memory (each operand once, the way
 * FLOPs are counted: docs/flops.md), so bench can report GB/s. Reset with the
 * FLOPs. */
void eb_ctx_add_bytes(eb_ctx *ctx, double bytes);
double eb_ctx_bytes(const eb_ctx *ctx);
size_t eb_ctx_arena_used(const eb_ctx *ctx);
size_t eb_ctx_arena_high_water(const eb_ctx *ctx);
void eb_ctx_reset_high_water(eb_ctx *ctx);

/* Arena allocation (64-byte aligned), freed by eb_ctx_reset. NULL on OOM. */
void *eb_alloc(eb_ctx *ctx, size_t bytes);
/* New activation tensor, uninitialised / zeroed. */
eb_tensor *eb_tensor_new(eb_ctx *ctx, int ndim, const int *shape);
eb_tensor *eb_tensor_zeros(eb_ctx *ctx, int ndim, const int *shape);
/* Gradient buffer of t, allocated zeroed on first use. */
float *eb_tensor_grad(eb_ctx *ctx, eb_tensor *t);

/* ------------------------------------------------------------- tape ---- */
typedef struct eb_node eb_node;
typedef void (*eb_backward_fn)(eb_ctx *ctx, eb_node *node);

#define EB_NODE_MAX_IN 6
struct eb_node {
  eb_backward_fn backward;
  eb_tensor *out;
  eb_tensor *in[EB_NODE_MAX_IN];
  void *saved; /* op-specific, arena-allocated */
  int iarg[8];
  float farg[4];
};

/* Record a node if gradients are on and an input needs a gradient; returns the
 * node (to fill `saved`/args) or NULL when nothing is recorded. */
eb_node *eb_tape_record(eb_ctx *ctx, eb_backward_fn fn, eb_tensor *out, int nin,
                        eb_tensor *const *in);
/* Seed d(loss)/d(loss) = 1 and run the tape backwards. loss is a scalar.
 * Returns EB_OK, or the kind of the step's failure (eb_ctx_rc: a failed
 * forward pass's, e.g. the tape could not grow, or the backward's own). */
int eb_backward(eb_ctx *ctx, eb_tensor *loss);

/* ------------------------------------------------------- parameters ---- */
typedef enum eb_init {
  EB_INIT_ZEROS = 0,
  EB_INIT_ONES,
  EB_INIT_NORMAL,     /* N(0, scale^2) */
  EB_INIT_UNIFORM,    /* U(-scale, scale) */
  EB_INIT_ORTHOGONAL, /* eb_rng_orthogonal over [rows, last dim]; scale unused */
} eb_init;

typedef struct eb_params eb_params;

eb_params *eb_params_create(void);
void eb_params_destroy(eb_params *p);
/* Declare a parameter. Returns a stable handle whose data/grad pointers become
 * valid after eb_params_finalize(); NULL on error (duplicate name, bad shape). */
eb_tensor *eb_param(eb_params *p, const char *name, int ndim, const int *shape,
                    eb_init init, float scale);
/* Declare a buffer: a non-trainable tensor stored with the parameters (saved,
 * loaded and exported like one, initialised the same way) with requires_grad
 * = 0: no gradient flows into it, the optimizer leaves it alone, exports carry
 * no grad.<name> for it and eb_params_numel() does not count it. An arch may
 * rewrite its data between steps (e.g. redrawn random features). */
eb_tensor *eb_param_buffer(eb_params *p, const char *name, int ndim, const int *shape,
                           eb_init init, float scale);
/* Allocate one block for data, grads and optimizer state (2 floats per weight)
 * and initialise every parameter from rng in declaration order. EB_OK, or
 * EB_NOMEM with err (the bytes asked) when the block cannot be allocated. */
int eb_params_finalize(eb_params *p, uint64_t seed, char *err, size_t errlen);
/* Initialise parameter t (declared in p, not yet finalized) from values[t->size]
 * (copied now) instead of its init kind, e.g. Mamba's A_log = log(1..S).
 * Returns 0, or -1 when t is not a pending parameter of p. */
int eb_param_init_values(eb_params *p, eb_tensor *t, const float *values);
/* Whether the optimizer's decoupled weight decay applies to parameter t of p:
 * decay = 1 or 0, declared with the parameter (any time, also after
 * eb_params_finalize). Unset, a parameter decays iff it has 2 or more dims
 * (matrices yes; biases and norm gains no). Mark 0 what weight decay would
 * pull toward a wrong value, e.g. Mamba's A_log (toward A = -1) and D.
 * Returns 0, or -1 when t is not a parameter of p. */
int eb_param_set_decay(eb_params *p, eb_tensor *t, int decay);
/* Parameter i's effective decay: 1 or 0 (-1 when i is out of range). */
int eb_params_decays(const eb_params *p, int i);
int eb_params_count(const eb_params *p);
eb_tensor *eb_params_get(const eb_params *p, int i);
eb_tensor *eb_params_find(const eb_params *p, const char *name);
int64_t eb_params_numel(const eb_params *p); /* trainable weights (no buffers) */
size_t eb_params_bytes(const eb_params *p);  /* data + grads + optimizer state */
void eb_params_zero_grad(eb_params *p);
/* Flat views for the optimizer: each region holds eb_params_padded() floats
 * (parameters in declaration order, each 64-byte aligned, padding zero). */
int64_t eb_params_padded(const eb_params *p);
float *eb_params_data(eb_params *p);
float *eb_params_grads(eb_params *p);
float *eb_params_opt_state(eb_params *p); /* 2 * padded floats: m then v */

/* ------------------------------------------------------------ threads --- */
/* Threads for OpenBLAS and the engine's own parallel loops. */
void eb_set_threads(int n);
int eb_get_threads(void);

/* ---------------------------------------------------------------- ops ---- */
/* Linear algebra */
/* y[...,O] = x[...,I] @ w[O,I]^T + b[O]   (b may be NULL) */
eb_tensor *eb_linear(eb_ctx *ctx, eb_tensor *x, eb_tensor *w, eb_tensor *b);
/* y[...,O] = res[...,O] + x[...,I] @ w[O,I]^T + b[O] (b may be NULL): eb_linear and
 * a residual eb_add in one op (the GEMM accumulates onto res + b) */
eb_tensor *eb_linear_add(eb_ctx *ctx, eb_tensor *x, eb_tensor *w, eb_tensor *b,
                         eb_tensor *res);
/* Batched matmul over leading dims (equal batch dims on both sides):
 * a[...,M,K] (or [...,K,M] if ta) @ b[...,K,N] (or [...,N,K] if tb) */
eb_tensor *eb_matmul(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int ta, int tb);
/* eb_matmul with broadcast batch dims: a[...,M,K] (or [...,K,M] if ta) @
 * b[...,K,N] (or [...,N,K] if tb) -> [...,M,N]. The batch dims (all but the
 * last two, at most 2) are right-aligned; each is equal in a and b or 1 (or
 * absent) in one of them, which repeats that operand: a weight w[K,N] applies
 * to every entry of x[B,N',K], and [B,1,M,K] @ [1,H,K,N] gives [B,H,M,N].
 * One GEMM per output entry (eb_matmul's backend); backward sums a repeated
 * operand's gradient over its output entries in output order. */
eb_tensor *eb_bmm(eb_ctx *ctx, eb_tensor *a, eb_tensor *b, int ta, int tb);

/* Elementwise. add/sub/mul/div broadcast numpy-style: shapes right-aligned,
 * each dim equal in a and b or 1 (or absent) in one of them, which repeats
 * along it; the output has the larger of each dim (a's shape when b is a's
 * shape or its trailing dims). E.g. x[B,N,D] * m[B,N,1] (a per-row scale),
 * num[B,N,H,Dh] / den[B,N,H,1], v[B,1,D] + w[1,N,D]. Backward sums a
 * broadcast input's gradient over the repeated elements in row-major order of
 * the output, the same for any thread count. */
eb_tensor *eb_add(eb_ctx *ctx, eb_tensor *a, eb_tensor *b);
eb_tensor *eb_sub(eb_ctx *ctx, eb_tensor *a, eb_tensor *b);
eb_tensor *eb_mul(eb_ctx *ctx, eb_tensor *a, eb_tensor *b);
/* a / b elementwise, b broadcast like add/mul (no guard: b must be non-zero). */
eb_tensor *eb_div(eb_ctx *ctx, eb_tensor *a, eb_tensor *b);
eb_tensor *eb_scale(eb_ctx *ctx, eb_tensor *a, float s);
eb_tensor *eb_gelu(eb_ctx *ctx, eb_tensor *x); /* tanh approximation */
/* gelu(x + b), x[...,D], b[D]: a linear layer's bias and GELU in one pass
 * (eb_linear(x, w, NULL) then this equals eb_gelu(eb_linear(x, w, b))) */
eb_tensor *eb_bias_gelu(eb_ctx *ctx, eb_tensor *x, eb_tensor *b);
eb_tensor *eb_silu(eb_ctx *ctx, eb_tensor *x);
eb_tensor *eb_softplus(eb_ctx *ctx, eb_tensor *x);
eb_tensor *eb_exp(eb_ctx *ctx, eb_tensor *x);
eb_tensor *eb_relu(eb_ctx *ctx, eb_tensor *x);
/* elu (alpha 1): x above 0, exp(x) - 1 at and below */
eb_tensor *eb_elu(eb_ctx *ctx, eb_tensor *x);
/* elu(x) + 1 (linear attention's feature map, > 0): x + 1 above 0, exp(x) at
 * and below (the engine's vector exp, relative error ~2e-7); one op instead
 * of two */
eb_tensor *eb_elu1(eb_ctx *ctx, eb_tensor *x);
/* Sum of all elements -> [1] */
eb_tensor *eb_sum(eb_ctx *ctx, eb_tensor *x);

/* Reductions along one axis (axis in [-ndim, ndim), -1 = last). keepdim = 1
 * keeps the axis with length 1 (x[B,N,D], axis 1 -> [B,1,D], ready to
 * broadcast back); keepdim = 0 removes it ([B,D]; a 1-D x gives [1]). Each
 * output sums (or scans) along the axis in index order. */
eb_tensor *eb_sum_axis(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim);
eb_tensor *eb_mean_axis(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim);
/* Maximum along the axis. Tie rule: the gradient goes to the FIRST maximal
 * element (lowest index along the axis) only; NaN never compares greater. */
eb_tensor *eb_max_axis(eb_ctx *ctx, eb_tensor *x, int axis, int keepdim);
/* Inclusive cumulative sum along the axis: y[..,l,..] = sum_{l' <= l}
 * x[..,l',..] (e.g. causal linear attention's running sums along the
 * sequence); backward is the reverse cumulative sum of dy. Same shape. */
eb_tensor *eb_cumsum(eb_ctx *ctx, eb_tensor *x, int axis);
/* Row mask: x[B,N,...], mask[B*N] (1 = keep) -> x with the rows whose mask is
 * 0 set to 0 (their gradient too), reading the [B,N] mask only: nothing of
 * x's size is materialised for it. mask NULL returns x itself (no op). A
 * float mask m[B,N] is eb_mul(x, eb_reshape(m, [B,N,1])) (broadcast). */
eb_tensor *eb_mask_rows(eb_ctx *ctx, eb_tensor *x, const uint8_t *mask);

/* Normalisation, softmax */
/* LayerNorm over the last dim, eps 1e-5; gamma, beta [D] */
eb_tensor *eb_layernorm(eb_ctx *ctx, eb_tensor *x, eb_tensor *gamma, eb_tensor *beta);
/* softmax over the last dim */
eb_tensor *eb_softmax(eb_ctx *ctx, eb_tensor *x);

/* Embedding: table[V,D], ids[B*N] in [0,V) -> [B,N,D] */
eb_tensor *eb_embedding(eb_ctx *ctx, eb_tensor *table, const int32_t *ids, int B, int N);
/* Dropout with keep-scaling 1/(1-p); identity when not training or p == 0. */
eb_tensor *eb_dropout(eb_ctx *ctx, eb_tensor *x, float p);

/* Pooling over the sequence. x[B,N,D], mask[B*N] 1 = real token (NULL = all). */
eb_tensor *eb_mean_pool(eb_ctx *ctx, eb_tensor *x, const uint8_t *mask); /* -> [B,D] */
eb_tensor *eb_cls_pool(eb_ctx *ctx, eb_tensor *x);                       /* x[:,0,:] */

/* Mean cross-entropy: logits[B,C], labels[B] -> scalar [1].
 * If correct != NULL it receives the number of argmax hits. */
eb_tensor *eb_cross_entropy(eb_ctx *ctx, eb_tensor *logits, const int32_t *labels,
                            int *correct);

/* Shape ops */
eb_tensor *eb_reshape(eb_ctx *ctx, eb_tensor *x, int ndim, const int *shape); /* view */
eb_tensor *eb_transpose(eb_ctx *ctx, eb_tensor *x, int d0, int d1);           /* copy */
/* Concatenate along the last dim / take a slice [start,start+len) of it. */
eb_tensor *eb_concat_last(eb_ctx *ctx, int n, eb_tensor *const *xs);
eb_tensor *eb_slice_last(eb_ctx *ctx, eb_tensor *x, int start, int len);
/* Reverse the sequence axis of x[B,N,D] (mask-unaware). */
eb_tensor *eb_reverse_seq(eb_ctx *ctx, eb_tensor *x);

/* Attention. q [B,H,Nq,Dh], k,v [B,H,Nk,Dh] -> [B,H,Nq,Dh]; softmax(q k^T *
 * scale) v with keys masked out where mask[b*Nk+j] == 0 (NULL = none); causal
 * adds j > i masking and needs Nq == Nk (refused otherwise). Stores the
 * probabilities for backward (O(B*H*Nq*Nk) memory). */
eb_tensor *eb_attention(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                        const uint8_t *mask, int causal, float scale);

/* The same attention computed blockwise (FlashAttention-style online softmax,
 * query blocks of 32 rows, key blocks of 256), same shapes and rules (Nk may
 * differ from Nq; causal needs Nq == Nk): keeps only the output and the
 * per-row log-sum-exp [B,H,Nq]; backward recomputes the scores block by block.
 * Memory O(B*H*Nq) instead of O(B*H*Nq*Nk). Causal skips key blocks above
 * the diagonal. */
eb_tensor *eb_attention_blockwise(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                                  const uint8_t *mask, int causal, float scale);
/* Multi-head blockwise attention straight from a fused projection:
 * qkv [B,N,3D] = [q | k | v] along the last dim, head h of each at columns
 * h*Dh..(h+1)*Dh-1 (Dh = D/heads) -> [B,N,D] with head h's output at the same
 * columns. Equals merge_heads(eb_attention(split q, k, v)) without the copies. */
eb_tensor *eb_attention_qkv(eb_ctx *ctx, eb_tensor *qkv, int heads, const uint8_t *mask,
                            int causal, float scale);
/* The three above with dropout p on the attention probabilities: o_i =
 * sum_j P_ij Z_ij v_j, Z_ij = 0 with probability p, else 1/(1-p), active only
 * when training and p > 0 (otherwise exactly the plain op). P is the softmax
 * before dropout. Z is a pure function of the op's dropout stream and the
 * score's index ((b H + h) Nq + i) Nk + j, the same in all three kernels, so
 * backward recomputes it and results do not depend on the thread count. */
eb_tensor *eb_attention_drop(eb_ctx *ctx, eb_tensor *q, eb_tensor *k, eb_tensor *v,
                             const uint8_t *mask, int causal, float scale, float p);
eb_tensor *eb_attention_blockwise_drop(eb_ctx *ctx, eb_tensor *q, eb_tensor *k,
                                       eb_tensor *v, const uint8_t *mask, int causal,
                                       float scale, float p);
eb_tensor *eb_attention_qkv_drop(eb_ctx *ctx, eb_tensor *qkv, int heads,
                                 const uint8_t *mask, int causal, float scale, float p);

/* Sequence ops for the efficient architectures. */
/* Depthwise causal conv1d: x[B,N,C], w[C,K], b[C] (NULL ok):
 * y[b,t,c] = b[c] + sum_j w[c,j] * x[b,t-K+1+j,c]   (zero left padding) */
eb_tensor *eb_conv1d_causal_dw(eb_ctx *ctx, eb_tensor *x, eb_tensor *w, eb_tensor *b);
/* Average pooling along N, window `pool` (odd), stride 1, same length, counting
 * only in-range real tokens (padding-aware): x[B,N,D], mask[B*N] or NULL. */
eb_tensor *eb_avgpool1d(eb_ctx *ctx, eb_tensor *x, int pool, const uint8_t *mask);
/* res + eb_avgpool1d(x) - x in one pass (PoolFormer's token mixer and its
 * residual add), same rules; res[B,N,D] or NULL (none). */
eb_tensor *eb_avgpool1d_sub(eb_ctx *ctx, eb_tensor *x, int pool, const uint8_t *mask,
                            eb_tensor *res);
/* Rows: x[R,D] (leading dims flattened), idx[n] in [0,R) -> [n,D] */
eb_tensor *eb_gather_rows(eb_ctx *ctx, eb_tensor *x, const int32_t *idx, int n);
/* out[R,D] = 0; out[idx[i]] += w[i] * src[i]  (w NULL = 1); R = rows */
eb_tensor *eb_scatter_add_rows(eb_ctx *ctx, eb_tensor *src, const int32_t *idx,
                               const float *w, int rows);
/* Mamba-1 selective scan, per batch b, channel c, state s:
 *   h_t = exp(delta_t * A[c,s]) h_{t-1} + delta_t * B_t[s] * u_t
 *   y_t = sum_s C_t[s] h_t[s] + D[c] u_t
 * u, delta [B,N,C]; A [C,S]; Bm, Cm [B,N,S]; D [C] (NULL ok) -> y [B,N,C].
 * Backward recomputes hidden states from chunk checkpoints. */
eb_tensor *eb_selective_scan(eb_ctx *ctx, eb_tensor *u, eb_tensor *delta, eb_tensor *A,
                             eb_tensor *Bm, eb_tensor *Cm, eb_tensor *D);

/* Random feature maps (Performer's FAVOR+, Choromanski et al. 2020), fused:
 * x[B,H,N,Dh], w[M,Dh] (feature rows w_j) -> phi[B,H,N,M], c = Dh^-1/4:
 *   EB_FAVOR_SOFTMAX: phi_j(x) = M^-1/2 exp(c w_j·x - c^2 |x|^2 / 2 - s)
 *   EB_FAVOR_RELU:    phi_j(x) = relu(c w_j·x) + 1e-3
 * Softmax stabiliser s: with keys = 0 (queries) the row's largest exponent;
 * with keys != 0 the largest exponent over the real rows and all features of
 * the row's (b,h). Backward treats s as a constant (it cancels in normalised
 * FAVOR attention). Rows with mask[b*N+n] == 0 (NULL = none) give phi = 0.
 * Multithreaded over row tiles; keeps only phi for backward (no x w^T). */
typedef enum eb_favor_kernel { EB_FAVOR_SOFTMAX = 0, EB_FAVOR_RELU = 1 } eb_favor_kernel;
eb_tensor *eb_favor_features(eb_ctx *ctx, eb_tensor *x, eb_tensor *w,
                             eb_favor_kernel kernel, int keys, const uint8_t *mask);

/* ------------------------------------------------ memory accounting ---- */
/* The engine's allocations (parameter block, arena chunks, autograd tape, the
 * trainer's buffers) are counted: eb_mem_take(bytes) before allocating
 * (-1: refused, to be reported as EB_NOMEM, "out of memory" with the size), and
 * eb_mem_give(bytes) after freeing. A limit (0 = none; train.max_memory)
 * refuses a take that would pass it; eb_mem_fail_at(n) makes the n-th take
 * from now fail (0 = none; a test hook, EFFBENCH_FAIL_ALLOC). */
void eb_mem_set_limit(size_t bytes);
size_t eb_mem_limit(void);
size_t eb_mem_in_use(void);
void eb_mem_fail_at(long n);
long eb_mem_takes(void);
int eb_mem_take(size_t bytes);
void eb_mem_give(size_t bytes);

#ifdef __cplusplus
}
#endif
#endif
