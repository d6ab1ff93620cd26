/* The attention micro-kernels, written once and included by ops_attention.c
 * once per instance (x86-64 level) with a native vector type: the includer
 * defines
 *   ATT_V, ATT_VI   float and int32 vectors of ATT_VW lanes (16, 8 or 4: one
 *                   AVX-512, AVX or SSE register; GCC keeps a vector wider than
 *                   the target's registers in memory, so each instance uses
 *                   its own width),
 *   ATT_LOAD, ATT_STORE, ATT_SPLAT, ATT_SEL, ATT_EXP  the ops_util.h helpers of
 *                   that width,
 *   ATT_F(name)     the instance's name for each function.
 * A unit of 16 columns (the padding unit ATT_W) is ATT_U = 16 / ATT_VW
 * vectors. Every sum runs in the same order whatever the width: an element of
 * a product sums its K terms in order, and the row sums of att_exp_row keep
 * one partial per column mod 16, added in one fixed tree; so the instances
 * differ only where the compiler fuses a*b+c (FMA, levels 3 and 4). */
#define ATT_U (ATT_W / ATT_VW)
_Static_assert(sizeof(ATT_V) == 4 * ATT_VW, "ATT_V holds ATT_VW floats");
_Static_assert(ATT_W % ATT_VW == 0, "a unit of 16 columns is whole vectors");

EB_VINLINE ATT_V ATT_F(att_max)(ATT_V a, ATT_V b) { return ATT_SEL(a > b, a, b); }
EB_VINLINE ATT_VI ATT_F(att_iota)(int base) {
  ATT_VI v;
  for (int i = 0; i < ATT_VW; i++)
    v[i] = base + i;
  return v;
}

/* c[i][v] = sum_k a[i][k * acs] * B[k * ldb + VW v ..] for rows i < MR and NV
 * vectors of columns; kn terms summed in order k = 0, 1, ... */
EB_VINLINE void ATT_F(att_tile)(const int MR, const int NV, int kn, const float *const *a,
                                int64_t acs, const float *B, int64_t ldb,
                                ATT_V c[ATT_MRMAX][ATT_NVMAX]) {
  ATT_V z = ATT_SPLAT(0.0f), t[ATT_NVMAX][ATT_MRMAX];
#pragma GCC unroll 4
  for (int v = 0; v < NV; v++)
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++)
      t[v][i] = z;
  for (int k = 0; k < kn; k++) {
    const float *b = B + (int64_t)k * ldb;
    ATT_V bv[ATT_NVMAX];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
      bv[v] = ATT_LOAD(b + ATT_VW * v);
    int64_t o = (int64_t)k * acs;
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      ATT_V x = ATT_SPLAT(a[i][o]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++)
        t[v][i] += x * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; i++)
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++)
      c[i][v] = t[v][i];
}

/* C[M, n0 .. n0 + VW NV) (+= when acc) = A B: one column strip of att_gemm */
EB_VINLINE void ATT_F(att_gemm_strip)(const int MR, const int NV, int M, int n0, int K,
                                      const float *A, int64_t ars, int64_t acs,
                                      const float *B, int64_t ldb, float *C, int64_t ldc,
                                      int acc) {
  for (int i0 = 0; i0 < M; i0 += MR) {
    int mr = M - i0 < MR ? M - i0 : MR;
    const float *a[ATT_MRMAX];
    ATT_V c[ATT_MRMAX][ATT_NVMAX];
    att_rows(MR, A + i0 * ars, ars, mr, a);
    ATT_F(att_tile)(MR, NV, K, a, acs, B + n0, ldb, c);
    /* unrolled, so the tile stays in registers */
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      if (i >= mr) break;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        float *p = C + (int64_t)(i0 + i) * ldc + n0 + ATT_VW * v;
        ATT_STORE(p, acc ? ATT_LOAD(p) + c[i][v] : c[i][v]);
      }
    }
  }
}

/* C[M, nc] (+= when acc) = A B with A(i,k) = A[i * ars + k * acs], B[K, nc]
 * row-major (ldb), nc a multiple of 16; every element sums its K terms in
 * order. Tiles of mr rows x nv vectors, then (where fewer columns are left)
 * mr1 rows x 16 columns. */
EB_VINLINE void ATT_F(att_gemm)(const int mr, const int nv, const int mr1, int M, int nc,
                                int K, const float *A, int64_t ars, int64_t acs,
                                const float *B, int64_t ldb, float *C, int64_t ldc,
                                int acc) {
  int n0 = 0;
  if (nv > ATT_U)
    for (; n0 + ATT_VW * nv <= nc; n0 += ATT_VW * nv)
      ATT_F(att_gemm_strip)(mr, nv, M, n0, K, A, ars, acs, B, ldb, C, ldc, acc);
  for (; n0 < nc; n0 += ATT_W)
    ATT_F(att_gemm_strip)(mr1, ATT_U, M, n0, K, A, ars, acs, B, ldb, C, ldc, acc);
}

EB_VINLINE void ATT_F(att_scores_strip)(const int MR, const int NV, const int mode,
                                        int mq, int n0, int Dp, const att_sargs *g) {
  for (int i0 = 0; i0 < mq; i0 += MR) {
    int mr = mq - i0 < MR ? mq - i0 : MR;
    const float *a[ATT_MRMAX];
    ATT_V c[ATT_MRMAX][ATT_NVMAX];
    att_rows(MR, g->A + (int64_t)i0 * g->lda, g->lda, mr, a);
    ATT_F(att_tile)(MR, NV, Dp, a, 1, g->Bt + n0, g->ldb, c);
#pragma GCC unroll 16
    for (int i = 0; i < MR; i++) {
      if (i >= mr) break;
      int r = i0 + i, lim = g->causal ? g->lim0 + r : n0 + ATT_VW * NV;
      float *s = g->S + (int64_t)r * ATT_LDS + n0;
      /* lane-wise maxima, one vector per ATT_VW columns of a 16-column unit */
      ATT_V m[ATT_U];
#pragma GCC unroll 4
      for (int u = 0; u < ATT_U; u++)
        m[u] = ATT_SPLAT(-INFINITY);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) {
        ATT_V x = c[i][v], y;
        ATT_VI ok = ATT_F(att_iota)(n0 + ATT_VW * v) < lim;
        if (mode == ATT_S_FWD) {
          y = x * g->scale + ATT_LOAD(g->bias + n0 + ATT_VW * v);
          y = ATT_SEL(ok, y, ATT_SPLAT(-INFINITY));
          m[v % ATT_U] = ATT_F(att_max)(y, m[v % ATT_U]);
        } else if (mode == ATT_S_LOGP) {
          y = x * g->scale + ATT_LOAD(g->bias + n0 + ATT_VW * v) - g->rowv[r];
          y = ATT_SEL(ok, y, ATT_SPLAT(-INFINITY));
        } else {
          if (g->zs) x = x * ATT_LOAD(g->zs + (int64_t)r * ATT_LDS + n0 + ATT_VW * v);
          y = ATT_LOAD(s + ATT_VW * v) * (x - g->rowv[r]) * g->scale;
        }
        ATT_STORE(s + ATT_VW * v, y);
      }
      if (mode == ATT_S_FWD)
#pragma GCC unroll 4
        for (int u = 0; u < ATT_U; u++) {
          float *p = g->mx + ATT_W * r + ATT_VW * u;
          ATT_STORE(p, ATT_F(att_max)(m[u], ATT_LOAD(p)));
        }
    }
  }
}

EB_VINLINE void ATT_F(att_scores)(const int mr, const int nv, const int mr1,
                                  const int mode, int mq, int nkp, int Dp,
                                  const att_sargs *g) {
  int n0 = 0;
  if (nv > ATT_U)
    for (; n0 + ATT_VW * nv <= nkp; n0 += ATT_VW * nv)
      ATT_F(att_scores_strip)(mr, nv, mode, mq, n0, Dp, g);
  for (; n0 < nkp; n0 += ATT_W)
    ATT_F(att_scores_strip)(mr1, ATT_U, mode, mq, n0, Dp, g);
}

/* p = exp(s - m) in place over nkp (a multiple of 16) columns; returns the sum
 * (one partial per column mod 16, added by att_hsum16) */
EB_VINLINE float ATT_F(att_exp_row)(float *s, int nkp, float m) {
  ATT_V acc[ATT_U];
#pragma GCC unroll 4
  for (int u = 0; u < ATT_U; u++)
    acc[u] = ATT_SPLAT(0.0f);
  for (int j = 0; j < nkp; j += ATT_W)
#pragma GCC unroll 4
    for (int u = 0; u < ATT_U; u++) {
      ATT_V e = ATT_EXP(ATT_LOAD(s + j + ATT_VW * u) - m);
      ATT_STORE(s + j + ATT_VW * u, e);
      acc[u] += e;
    }
  float part[ATT_W];
#pragma GCC unroll 4
  for (int u = 0; u < ATT_U; u++)
    ATT_STORE(part + ATT_VW * u, acc[u]);
  return att_hsum16(part);
}

/* s = exp(s) in place over mq rows (stride ATT_LDS) of nkp columns */
EB_VINLINE void ATT_F(att_exp_rows)(float *S, int mq, int nkp) {
  for (int r = 0; r < mq; r++)
    for (int j = 0; j < nkp; j += ATT_VW) {
      float *s = S + (int64_t)r * ATT_LDS + j;
      ATT_STORE(s, ATT_EXP(ATT_LOAD(s)));
    }
}

/* One (b,h) of the forward with register tiles (mr, nv, mr1): o and lse;
 * *mm += the block products' FLOPs. */
EB_VINLINE void ATT_F(att_fwd_impl)(const int mr, const int nv, const int mr1,
                                    const att_saved *sv, const att_layout *L, int b,
                                    int h, float *scr, int64_t *mm) {
  const int Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh, causal = sv->causal, Dp = L->Dp,
            Np = L->Np;
  const float scale = sv->scale;
  float *Qp = scr + L->q, *Kt = scr + L->kt, *Vp = scr + L->v, *S = scr + L->s;
  float *acc = scr + L->acc, *bias = scr + L->bias;
  float *m = scr + L->rowf, *l = m + ATT_BQ, *corr = l + ATT_BQ, *mx = corr + ATT_BQ;
  float *O = att_at(&sv->o, b, h), *lse = sv->lse + ((int64_t)b * sv->H + h) * Nq;
  att_copy(att_at(&sv->q, b, h), sv->q.ld, Nq, Dh, Dp, Nq, Qp);
  att_copy_t(att_at(&sv->k, b, h), sv->k.ld, Nk, Dh, Dp, Np, L->ldt, Kt);
  att_copy(att_at(&sv->v, b, h), sv->v.ld, Nk, Dh, Dp, Np, Vp);
  const int ldo = sv->o.ld;
  for (int i0 = 0; i0 < Nq; i0 += ATT_BQ) {
    int mq = Nq - i0 < ATT_BQ ? Nq - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, Nk, causal);
    for (int r = 0; r < mq; r++) {
      m[r] = -INFINITY;
      l[r] = 0;
    }
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
      int nk = Nk - j0 < ATT_BK ? Nk - j0 : ATT_BK, nkp = att_round(nk, 16);
      for (int r = 0; r < ATT_W * mq; r++)
        mx[r] = -INFINITY;
      /* S = (Q_i K_j^T) scale + bias, masked; lane-wise row maxima */
      att_sargs g = {.A = Qp + (int64_t)i0 * Dp,
                     .Bt = Kt + j0,
                     .bias = bias + j0,
                     .S = S,
                     .mx = mx,
                     .lda = Dp,
                     .ldb = L->ldt,
                     .causal = causal,
                     .lim0 = i0 + 1 - j0,
                     .scale = scale};
      ATT_F(att_scores)(mr, nv, mr1, ATT_S_FWD, mq, nkp, Dp, &g);
      *mm += ATT_MM(mq, nk, Dh);
      for (int r = 0; r < mq; r++) {
        float *s = S + (int64_t)r * ATT_LDS;
        float mb = att_hmax16(mx + ATT_W * r);
        float mn = mb > m[r] ? mb : m[r];
        if (mn == -INFINITY) { /* no usable key yet: p = 0, nothing to rescale */
          memset(s, 0, (size_t)nkp * sizeof(float));
          corr[r] = 1.0f;
          continue;
        }
        float c = ATT_EXP(ATT_SPLAT(m[r] - mn))[0];
        float ps = ATT_F(att_exp_row)(s, nkp, mn);
        l[r] = l[r] * c + ps;
        m[r] = mn;
        corr[r] = c;
        if (sv->drop_p > 0.0f) /* the sum l is taken before dropout */
          for (int j = 0; j < nk; j++)
            s[j] *= att_keep_at(sv, b, h, i0 + r, j0 + j);
      }
      if (j0 > 0)
        for (int r = 0; r < mq; r++)
          for (int d = 0; d < Dp; d += ATT_VW)
            ATT_STORE(acc + r * Dp + d, ATT_LOAD(acc + r * Dp + d) * corr[r]);
      /* acc[mq,Dp] (+)= P V_j */
      ATT_F(att_gemm)
      (mr, nv, mr1, mq, Dp, nk, S, ATT_LDS, 1, Vp + (int64_t)j0 * Dp, Dp, acc, Dp,
       j0 > 0);
      *mm += ATT_MM(mq, Dh, nk);
    }
    for (int r = 0; r < mq; r++) {
      float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
      float *o = O + (int64_t)(i0 + r) * ldo;
      for (int d = 0; d < Dh; d++)
        o[d] = acc[r * Dp + d] * inv;
      lse[i0 + r] = l[r] > 0 ? m[r] + logf(l[r]) : INFINITY;
    }
  }
}

/* One (b,h) of the backward with register tiles (mr, nv, mr1); mm[0] += the
 * block products' FLOPs, mm[1] += those of them recomputing the scores. */
EB_VINLINE void ATT_F(att_bwd_impl)(const int mr, const int nv, const int mr1,
                                    const att_saved *sv, const att_layout *L, int b,
                                    int h, const att_grads *gr, float *scr, int64_t *mm) {
  const int Nq = sv->Nq, Nk = sv->Nk, Dh = sv->Dh, causal = sv->causal, Dp = L->Dp,
            Np = L->Np;
  const float scale = sv->scale;
  float *Qp = scr + L->q, *Kp = scr + L->k, *Kt = scr + L->kt, *Vt = scr + L->vt;
  float *dOp = scr + L->dO, *S = scr + L->s, *dQ = scr + L->acc, *dK = scr + L->dk,
        *dV = scr + L->dv, *Dr = scr + L->rowf, *bias = scr + L->bias;
  const float *O = att_at(&sv->o, b, h), *dO = att_at(gr->dO, b, h);
  const float *lse = sv->lse + ((int64_t)b * sv->H + h) * Nq;
  const int ldo = sv->o.ld, ldg = gr->dO->ld;
  att_copy(att_at(&sv->q, b, h), sv->q.ld, Nq, Dh, Dp, Nq, Qp);
  att_copy(att_at(&sv->k, b, h), sv->k.ld, Nk, Dh, Dp, Np, Kp);
  att_copy_t(att_at(&sv->k, b, h), sv->k.ld, Nk, Dh, Dp, Np, L->ldt, Kt);
  att_copy_t(att_at(&sv->v, b, h), sv->v.ld, Nk, Dh, Dp, Np, L->ldt, Vt);
  att_copy(dO, ldg, Nq, Dh, Dp, Nq, dOp);
  memset(dK, 0, (size_t)Np * Dp * sizeof(float));
  memset(dV, 0, (size_t)Np * Dp * sizeof(float));
  for (int i = 0; i < Nq; i++) { /* D_i = rowsum(dO * O) */
    const float *o = O + (int64_t)i * ldo, *g = dO + (int64_t)i * ldg;
    float s = 0;
    for (int d = 0; d < Dh; d++)
      s += g[d] * o[d];
    Dr[i] = s;
  }
  for (int i0 = 0; i0 < Nq; i0 += ATT_BQ) {
    int mq = Nq - i0 < ATT_BQ ? Nq - i0 : ATT_BQ;
    int kend = att_kend(i0 + mq, Nk, causal);
    const float *Qi = Qp + (int64_t)i0 * Dp, *dOi = dOp + (int64_t)i0 * Dp;
    for (int j0 = 0; j0 < kend; j0 += ATT_BK) {
      int nk = Nk - j0 < ATT_BK ? Nk - j0 : ATT_BK, nkp = att_round(nk, 16);
      /* P = exp(Q_i K_j^T scale + bias - lse) */
      att_sargs g = {.A = Qi,
                     .Bt = Kt + j0,
                     .bias = bias + j0,
                     .rowv = lse + i0,
                     .S = S,
                     .lda = Dp,
                     .ldb = L->ldt,
                     .causal = causal,
                     .lim0 = i0 + 1 - j0,
                     .scale = scale};
      ATT_F(att_scores)(mr, nv, mr1, ATT_S_LOGP, mq, nkp, Dp, &g);
      mm[0] += ATT_MM(mq, nk, Dh);
      mm[1] += ATT_MM(mq, nk, Dh);
      ATT_F(att_exp_rows)(S, mq, nkp);
      const float *Pv = S, *Zb = NULL;
      if (sv->drop_p > 0.0f) { /* Z and P Z of the block */
        float *zs = scr + L->zs, *pd = scr + L->pd;
        for (int r = 0; r < mq; r++)
          for (int j = 0; j < nkp; j++) {
            int64_t e = (int64_t)r * ATT_LDS + j;
            zs[e] = j < nk ? att_keep_at(sv, b, h, i0 + r, j0 + j) : 0.0f;
            pd[e] = S[e] * zs[e];
          }
        Pv = pd;
        Zb = zs;
      }
      /* dV_j += (P Z)^T dO_i */
      ATT_F(att_gemm)
      (mr, nv, mr1, nk, Dp, mq, Pv, 1, ATT_LDS, dOi, Dp, dV + (int64_t)j0 * Dp, Dp, 1);
      mm[0] += ATT_MM(nk, Dh, mq);
      /* dS = P (dO_i V_j^T Z - D) scale, in place */
      g = (att_sargs){.A = dOi,
                      .Bt = Vt + j0,
                      .zs = Zb,
                      .rowv = Dr + i0,
                      .S = S,
                      .lda = Dp,
                      .ldb = L->ldt,
                      .scale = scale};
      ATT_F(att_scores)(mr, nv, mr1, ATT_S_DS, mq, nkp, Dp, &g);
      mm[0] += ATT_MM(mq, nk, Dh);
      /* dQ_i (+)= dS K_j; dK_j += dS^T Q_i */
      ATT_F(att_gemm)
      (mr, nv, mr1, mq, Dp, nk, S, ATT_LDS, 1, Kp + (int64_t)j0 * Dp, Dp, dQ, Dp, j0 > 0);
      ATT_F(att_gemm)
      (mr, nv, mr1, nk, Dp, mq, S, 1, ATT_LDS, Qi, Dp, dK + (int64_t)j0 * Dp, Dp, 1);
      mm[0] += ATT_MM(mq, Dh, nk) + ATT_MM(nk, Dh, mq); /* dQ, dK */
    }
    if (gr->dq)
      att_store(att_at(gr->dq, b, h) + (int64_t)i0 * gr->dq->ld, gr->dq->ld, dQ, mq, Dh,
                Dp, gr->fq);
  }
  if (gr->dk) att_store(att_at(gr->dk, b, h), gr->dk->ld, dK, Nk, Dh, Dp, gr->fk);
  if (gr->dv) att_store(att_at(gr->dv, b, h), gr->dv->ld, dV, Nk, Dh, Dp, gr->fv);
}

#undef ATT_U
