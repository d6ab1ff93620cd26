"""Independent PyTorch reference of effbench's models.

Used by tests/golden/check_export.py (float64, golden cross-check of
`effbench export --with-batch`) and by bench/compare-pytorch (float32 speed
and memory baseline), so the benchmarked model is the reference model.

Layout: an architecture contributes only its block stack, built by a function
in ARCHS; the shared wrapper EffbenchModel adds what every effbench model has
(token + position embedding, final LayerNorm, pooling, classification head).
Module attribute names mirror effbench's parameter names, so
model.named_parameters() yields exactly "embed.tok", "blocks.0.ln1.g", ...

To add an architecture: write build_<name>_blocks(cfg, dtype) returning an
nn.ModuleList whose modules map x [B,N,D], mask [B,N] bool -> [B,N,D], and
register it in ARCHS.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-5


def _param(*shape, dtype):
    return nn.Parameter(torch.empty(*shape, dtype=dtype))


class LayerNorm(nn.Module):
    """Parameters g [D], b [D]; x [..., D] -> [..., D], eps 1e-5, biased variance."""

    def __init__(self, d, dtype):
        super().__init__()
        self.g = _param(d, dtype=dtype)
        self.b = _param(d, dtype=dtype)
        self.d = d

    def forward(self, x):
        return F.layer_norm(x, (self.d,), self.g, self.b, LN_EPS)


def masked_attention(q, k, v, key_mask, causal=False):
    """q, k, v [B,H,N,dh], key_mask [B,N] bool (True = real token) -> [B,H,N,dh].

    Keys with key_mask False (and, if causal, keys j > query i) get -inf before
    the softmax. A query row with no usable key would give 0/0; effbench
    defines its probabilities, hence its output, as zeros.
    """
    n = q.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = torch.matmul(q * scale, k.transpose(-2, -1))          # [B,H,N,N]
    allowed = key_mask[:, None, None, :]                              # [B,1,1,N]
    if causal:
        tril = torch.ones(n, n, dtype=torch.bool, device=q.device).tril()
        allowed = allowed & tril                                      # [B,1,N,N]
    row_valid = allowed.any(dim=-1, keepdim=True)                     # [B,1,N|1,1]
    all_valid = bool(row_valid.all())
    if not all_valid:
        # Unmask rows without usable keys (finite softmax), zero them afterwards.
        allowed = allowed | ~row_valid
    scores = scores.masked_fill(~allowed, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    if not all_valid:
        p = p * row_valid.to(p.dtype)
    return torch.matmul(p, v)


class Attention(nn.Module):
    """wqkv [3D,D], bqkv [3D], wo [D,D], bo [D]; x [B,N,D] -> [B,N,D]."""

    def __init__(self, d, heads, dtype, causal=False):
        super().__init__()
        if d % heads:
            raise ValueError("dim %d not divisible by heads %d" % (d, heads))
        self.d, self.h, self.causal = d, heads, causal
        self.wqkv = _param(3 * d, d, dtype=dtype)
        self.bqkv = _param(3 * d, dtype=dtype)
        self.wo = _param(d, d, dtype=dtype)
        self.bo = _param(d, dtype=dtype)

    def forward(self, x, mask):
        b, n, d = x.shape
        h, dh = self.h, d // self.h
        qkv = F.linear(x, self.wqkv, self.bqkv)                       # [B,N,3D]
        # columns: q = [0,D), k = [D,2D), v = [2D,3D); head h = cols h*dh..h*dh+dh
        q, k, v = qkv.view(b, n, 3, h, dh).permute(2, 0, 3, 1, 4)      # 3 x [B,H,N,dh]
        o = masked_attention(q, k, v, mask, self.causal)              # [B,H,N,dh]
        o = o.transpose(1, 2).reshape(b, n, d)                        # concat heads
        return F.linear(o, self.wo, self.bo)


class MLP(nn.Module):
    """w1 [F,D], b1 [F], w2 [D,F], b2 [D]; x [B,N,D] -> [B,N,D], tanh-GELU."""

    def __init__(self, d, ffn, dtype):
        super().__init__()
        self.w1 = _param(ffn, d, dtype=dtype)
        self.b1 = _param(ffn, dtype=dtype)
        self.w2 = _param(d, ffn, dtype=dtype)
        self.b2 = _param(d, dtype=dtype)

    def forward(self, x):
        return F.linear(F.gelu(F.linear(x, self.w1, self.b1), approximate="tanh"),
                        self.w2, self.b2)


class VanillaBlock(nn.Module):
    """Pre-LN Transformer block; x [B,N,D], mask [B,N] bool -> [B,N,D]."""

    def __init__(self, d, heads, ffn, dtype, causal=False):
        super().__init__()
        self.ln1 = LayerNorm(d, dtype)
        self.attn = Attention(d, heads, dtype, causal)
        self.ln2 = LayerNorm(d, dtype)
        self.mlp = MLP(d, ffn, dtype)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


def _bool_param(ap, name, default=False):
    v = ap.get(name, default)
    if isinstance(v, str):
        if v.lower() in ("true", "1", "yes", "on"):
            return True
        if v.lower() in ("false", "0", "no", "off"):
            return False
        raise ValueError("arch_params.%s: %r is not a boolean" % (name, v))
    return bool(v)


def build_vanilla_blocks(cfg, dtype):
    """cfg: dict with dim, depth, heads, ffn; arch_params: causal (bool,
    default false: keys j > query i are also masked)."""
    causal = _bool_param(cfg.get("arch_params") or {}, "causal")
    return nn.ModuleList(VanillaBlock(cfg["dim"], cfg["heads"], cfg["ffn"], dtype, causal)
                         for _ in range(cfg["depth"]))


# ------------------------------------------------ linformer, performer, wide

def _heads(x, h):
    """[B,N,D] -> [B,H,N,D/H]"""
    b, n, d = x.shape
    return x.view(b, n, h, d // h).transpose(1, 2)


def _merge(x):
    """[B,H,N,dh] -> [B,N,H*dh]"""
    b, h, n, dh = x.shape
    return x.transpose(1, 2).reshape(b, n, h * dh)


class LinformerAttention(nn.Module):
    """wqkv, bqkv, wo, bo as Attention; E [k, max_len] (and F unless shared);
    keys/values of padded positions are zeroed, then projected along the
    length with the first N columns of E / F."""

    def __init__(self, d, heads, k, max_len, share, dtype, shared_e=None):
        super().__init__()
        self.d, self.h, self.share = d, heads, share
        self.wqkv = _param(3 * d, d, dtype=dtype)
        self.bqkv = _param(3 * d, dtype=dtype)
        self.E = shared_e if shared_e is not None else _param(k, max_len, dtype=dtype)
        if share == "none":
            self.F = _param(k, max_len, dtype=dtype)
        self.wo = _param(d, d, dtype=dtype)
        self.bo = _param(d, dtype=dtype)

    def forward(self, x, mask):
        n, d = x.shape[1], self.d
        qkv = F.linear(x, self.wqkv, self.bqkv)
        keep = mask.to(x.dtype)[:, :, None]                             # [B,N,1]
        q = _heads(qkv[..., :d], self.h) / math.sqrt(d // self.h)
        k = _heads(qkv[..., d:2 * d] * keep, self.h)
        v = _heads(qkv[..., 2 * d:] * keep, self.h)
        e = self.E[:, :n]
        f = self.F[:, :n] if self.share == "none" else e
        kp = torch.einsum("jn,bhnd->bhjd", e, k)                        # [B,H,k,dh]
        vp = torch.einsum("jn,bhnd->bhjd", f, v)
        p = torch.softmax(q @ kp.transpose(-2, -1), dim=-1)             # [B,H,N,k]
        return F.linear(_merge(p @ vp), self.wo, self.bo)


class PerformerAttention(nn.Module):
    """wqkv, bqkv, wo, bo as Attention; buffer features [m, dh] (from the
    export). FAVOR+ with detached stabilisers (per query row; per (b,h) over
    the real keys), phi of padded keys = 0; relu kernel relu(c w.x) + 1e-3."""

    def __init__(self, d, heads, m, kernel, dtype):
        super().__init__()
        self.d, self.h, self.kernel = d, heads, kernel
        self.wqkv = _param(3 * d, d, dtype=dtype)
        self.bqkv = _param(3 * d, dtype=dtype)
        self.register_buffer("features", torch.zeros(m, d // heads, dtype=dtype))
        self.wo = _param(d, d, dtype=dtype)
        self.bo = _param(d, dtype=dtype)

    def forward(self, x, mask):
        d, h = self.d, self.h
        dh, m = d // h, self.features.shape[0]
        c = dh ** -0.25
        qkv = F.linear(x, self.wqkv, self.bqkv)
        q, k, v = (_heads(qkv[..., i * d:(i + 1) * d], h) for i in range(3))
        keep = mask[:, None, :, None]                                    # [B,1,N,1]
        w = self.features
        if self.kernel == "relu":
            fq = F.relu(c * (q @ w.T)) + 1e-3
            fk = F.relu(c * (k @ w.T)) + 1e-3
        else:
            eq = c * (q @ w.T) - 0.5 * c * c * (q * q).sum(-1, keepdim=True)
            ek = c * (k @ w.T) - 0.5 * c * c * (k * k).sum(-1, keepdim=True)
            sq = eq.amax(-1, keepdim=True).detach()
            sk = ek.masked_fill(~keep, float("-inf")).amax(dim=(-2, -1), keepdim=True).detach()
            sk = torch.where(torch.isfinite(sk), sk, torch.zeros_like(sk))
            fq = torch.exp(eq - sq) / math.sqrt(m)
            fk = torch.exp(ek - sk) / math.sqrt(m)
        fk = fk * keep.to(fk.dtype)
        num = fq @ (fk.transpose(-2, -1) @ v)                            # [B,H,N,dh]
        den = fq @ fk.sum(-2)[..., None]                                 # [B,H,N,1]
        ok = den != 0
        o = num / torch.where(ok, den, torch.ones_like(den)) * ok.to(num.dtype)
        return F.linear(_merge(o), self.wo, self.bo)


class MixerBlock(nn.Module):
    """Pre-LN block around a token mixer `attn`; x [B,N,D], mask [B,N] bool."""

    def __init__(self, d, ffn, attn, dtype):
        super().__init__()
        self.ln1 = LayerNorm(d, dtype)
        self.attn = attn
        self.ln2 = LayerNorm(d, dtype)
        self.mlp = MLP(d, ffn, dtype)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.mlp(self.ln2(x))


def build_linformer_blocks(cfg, dtype):
    """arch_params: k (default 256, capped at max_len), share none|kv|layer."""
    ap = cfg.get("arch_params") or {}
    k = min(int(ap.get("k", 256)), cfg["max_len"])
    share = ap.get("share", "none")
    if share not in ("none", "kv", "layer"):
        raise ValueError("linformer: share %r" % (share,))
    blocks, shared = nn.ModuleList(), None
    for _ in range(cfg["depth"]):
        attn = LinformerAttention(cfg["dim"], cfg["heads"], k, cfg["max_len"], share, dtype,
                                  shared if share == "layer" else None)
        shared = attn.E
        blocks.append(MixerBlock(cfg["dim"], cfg["ffn"], attn, dtype))
    return blocks


def build_performer_blocks(cfg, dtype):
    """arch_params: features (256), kernel softmax|relu, redraw (no effect on
    one step: the export holds the features in use)."""
    ap = cfg.get("arch_params") or {}
    kernel = ap.get("kernel", "softmax")
    if kernel not in ("softmax", "relu"):
        raise ValueError("performer: kernel %r" % (kernel,))
    return nn.ModuleList(
        MixerBlock(cfg["dim"], cfg["ffn"],
                   PerformerAttention(cfg["dim"], cfg["heads"], int(ap.get("features", 256)),
                                      kernel, dtype), dtype)
        for _ in range(cfg["depth"]))


def build_wide_blocks(cfg, dtype):
    """One vanilla block with arch_params heads; 0 (auto, the default) is the
    deep model's total, depth x heads (Brown et al. hold it fixed)."""
    heads = int((cfg.get("arch_params") or {}).get("heads", 0))
    if heads == 0:
        heads = cfg["depth"] * cfg["heads"]
    return nn.ModuleList([VanillaBlock(cfg["dim"], heads, cfg["ffn"], dtype)])


# ---- poolformer, mamba, moe (archs/poolformer.c, archs/mamba.c, archs/moe.c)


def masked_avgpool(x, mask, pool):
    """x [B,N,D], mask [B,N] bool -> [B,N,D]: mean of the real tokens in the
    window [t - pool//2, t + pool//2] clipped to the sequence, 0 if none."""
    r = pool // 2
    m = mask.to(x.dtype)[:, :, None]                                  # [B,N,1]
    xs = F.pad((x * m).transpose(1, 2), (r, r))                       # [B,D,N+2r]
    cs = F.pad(m.transpose(1, 2), (r, r))
    s = xs.unfold(2, pool, 1).sum(-1).transpose(1, 2)                 # [B,N,D]
    c = cs.unfold(2, pool, 1).sum(-1).transpose(1, 2)                 # [B,N,1]
    return torch.where(c > 0, s / c.clamp(min=1.0), torch.zeros_like(s))


class PoolFormerBlock(nn.Module):
    """x = x + (AvgPool(LN1 x) - LN1 x); x = x + MLP(LN2 x). LN1 has only a
    gain (ln1.g): a bias would cancel in AvgPool - identity."""

    def __init__(self, d, ffn, pool, dtype):
        super().__init__()
        self.pool = pool
        self.ln1 = nn.Module()
        self.ln1.g = _param(d, dtype=dtype)
        self.ln2 = LayerNorm(d, dtype)
        self.mlp = MLP(d, ffn, dtype)

    def forward(self, x, mask):
        a = F.layer_norm(x, (x.shape[-1],), self.ln1.g, None, LN_EPS)
        x = x + (masked_avgpool(a, mask, self.pool) - a)
        return x + self.mlp(self.ln2(x))


def build_poolformer_blocks(cfg, dtype):
    """arch_params: pool (odd, default 3)."""
    pool = int((cfg.get("arch_params") or {}).get("pool", 3))
    if pool < 1 or pool % 2 == 0:
        raise ValueError("poolformer: pool %r must be odd" % (pool,))
    return nn.ModuleList(PoolFormerBlock(cfg["dim"], cfg["ffn"], pool, dtype)
                         for _ in range(cfg["depth"]))


def selective_scan_ref(u, delta, A, Bm, Cm, D):
    """Sequential Mamba-1 scan. u, delta [B,N,E]; A [E,S]; Bm, Cm [B,N,S];
    D [E] -> y [B,N,E]: h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,
    y_t = C_t . h_t + D u_t."""
    b, n, e = u.shape
    h = torch.zeros(b, e, A.shape[1], dtype=u.dtype)
    ys = []
    for t in range(n):
        dt = delta[:, t, :, None]                                     # [B,E,1]
        h = torch.exp(dt * A) * h + dt * Bm[:, t, None, :] * u[:, t, :, None]
        ys.append((h * Cm[:, t, None, :]).sum(-1) + D * u[:, t])
    return torch.stack(ys, 1)


class SSMDirection(nn.Module):
    """conv (w [E,K], b [E]), x_proj.w [R+2S,E], dt_proj (w [E,R], b [E]),
    A_log [E,S], D [E]; xs [B,N,E], keep [B,N,1] or None -> y [B,N,E]."""

    def __init__(self, e, s, r, k, dtype):
        super().__init__()
        self.e, self.s, self.r, self.k = e, s, r, k
        self.conv = nn.Module()
        self.conv.w = _param(e, k, dtype=dtype)
        self.conv.b = _param(e, dtype=dtype)
        self.x_proj = nn.Module()
        self.x_proj.w = _param(r + 2 * s, e, dtype=dtype)
        self.dt_proj = nn.Module()
        self.dt_proj.w = _param(e, r, dtype=dtype)
        self.dt_proj.b = _param(e, dtype=dtype)
        self.A_log = _param(e, s, dtype=dtype)
        self.D = _param(e, dtype=dtype)

    def forward(self, xs, keep):
        n = xs.shape[1]
        # causal depthwise conv: y[t] = b + sum_j w[j] x[t-K+1+j]
        c = F.conv1d(xs.transpose(1, 2), self.conv.w[:, None, :], self.conv.b,
                     padding=self.k - 1, groups=self.e)[..., :n]
        u = F.silu(c.transpose(1, 2))
        if keep is not None:
            u = u * keep
        dbl = F.linear(u, self.x_proj.w)
        dt, bm, cm = dbl.split([self.r, self.s, self.s], dim=-1)
        delta = F.softplus(F.linear(dt, self.dt_proj.w, self.dt_proj.b))
        return selective_scan_ref(u, delta, -torch.exp(self.A_log), bm, cm, self.D)


class MambaBlock(nn.Module):
    """x = x + out_proj((scan(x) [+ rev(scan_rev(rev(x)))]) * silu(z)), [x, z] = in_proj(LN x).
    The reversed direction zeroes padded positions (before its conv and after
    its SiLU), as archs/mamba.c does."""

    def __init__(self, d, e, s, r, k, bidir, dtype):
        super().__init__()
        self.e, self.bidir = e, bidir
        self.ln = LayerNorm(d, dtype)
        self.in_proj = nn.Module()
        self.in_proj.w = _param(2 * e, d, dtype=dtype)
        fwd = SSMDirection(e, s, r, k, dtype)
        # parameter names blocks.i.conv.w, ... : adopt the direction's modules
        self.conv, self.x_proj, self.dt_proj = fwd.conv, fwd.x_proj, fwd.dt_proj
        self.A_log, self.D = fwd.A_log, fwd.D
        self._fwd = [fwd]  # not a submodule: its parameters are registered above
        if bidir:
            self.rev = SSMDirection(e, s, r, k, dtype)
        self.out_proj = nn.Module()
        self.out_proj.w = _param(d, e, dtype=dtype)

    def forward(self, x, mask):
        xz = F.linear(self.ln(x), self.in_proj.w)
        xs, z = xz[..., :self.e], xz[..., self.e:]
        y = self._fwd[0](xs, None)
        if self.bidir:
            keep = mask.to(x.dtype)[:, :, None]
            yr = self.rev(torch.flip(xs * keep, [1]), torch.flip(keep, [1]))
            y = y + torch.flip(yr, [1])
        return x + F.linear(y * F.silu(z), self.out_proj.w)


def build_mamba_blocks(cfg, dtype):
    """arch_params: state (16), expand (2), dt_rank (0 = ceil(dim/16)), conv (4),
    bidirectional (false)."""
    ap = cfg.get("arch_params") or {}
    d = cfg["dim"]
    e = int(ap.get("expand", 2)) * d
    r = int(ap.get("dt_rank", 0)) or (d + 15) // 16
    return nn.ModuleList(
        MambaBlock(d, e, int(ap.get("state", 16)), r, int(ap.get("conv", 4)),
                   _bool_param(ap, "bidirectional"), dtype)
        for _ in range(cfg["depth"]))


class MoEMLP(nn.Module):
    """router.w [E,D]; experts.e.{w1,b1,w2,b2}; h [B,N,D], mask -> [B,N,D].
    Top-k by router probability (ties: lower index), capacity
    ceil(cf * T * k / E) over the T real tokens in arrival order (choice rank,
    then token), dropped assignments add nothing, gate = probability. cf = 0:
    no capacity limit (every token keeps its top-k experts)."""

    def __init__(self, d, ffn, n_exp, k, cf, dtype):
        super().__init__()
        self.n, self.k, self.cf = n_exp, k, cf
        self.router = nn.Module()
        self.router.w = _param(n_exp, d, dtype=dtype)
        self.experts = nn.ModuleList(MLP(d, ffn, dtype) for _ in range(n_exp))

    def forward(self, h, mask):
        b, n, d = h.shape
        hf = h.reshape(b * n, d)
        real = mask.reshape(-1)
        p = torch.softmax(F.linear(hf, self.router.w), dim=-1)        # [R,E]
        # routing decisions (no gradient); refuse near-ties, where float32 and
        # float64 could choose differently
        top = torch.topk(p.detach(), min(self.k + 1, self.n), dim=-1, sorted=True)
        if self.n > self.k:
            gap = (top.values[:, self.k - 1] - top.values[:, self.k])[real]
            if gap.numel() and float(gap.min()) < 1e-5:
                raise ValueError("moe: router near-tie (gap %.2e): pick another seed"
                                 % float(gap.min()))
        choice = []
        for r in range(b * n):
            pr = p[r].detach().tolist()
            order = sorted(range(self.n), key=lambda e: (-pr[e], e))
            choice.append(order[:self.k])
        T = int(real.sum())
        cap = math.ceil(self.cf * T * self.k / self.n) if self.cf > 0 else T
        count = [0] * self.n
        kept = [[] for _ in range(self.n)]
        for j in range(self.k):
            for r in range(b * n):
                if not bool(real[r]):
                    continue
                e = choice[r][j]
                if count[e] < cap:
                    count[e] += 1
                    kept[e].append(r)
        out = torch.zeros_like(hf)
        for e in range(self.n):
            if kept[e]:
                idx = torch.tensor(kept[e], dtype=torch.long)
                y = self.experts[e](hf[idx]) * p[idx, e][:, None]
                out = out.index_add(0, idx, y)
        return out.reshape(b, n, d)


class MoEBlock(nn.Module):
    """Vanilla block whose MLP is MoEMLP (parameter names blocks.i.moe.*)."""

    def __init__(self, d, heads, ffn, n_exp, k, cf, dtype):
        super().__init__()
        self.ln1 = LayerNorm(d, dtype)
        self.attn = Attention(d, heads, dtype)
        self.ln2 = LayerNorm(d, dtype)
        self.moe = MoEMLP(d, ffn, n_exp, k, cf, dtype)

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.moe(self.ln2(x), mask)


def build_moe_blocks(cfg, dtype):
    """arch_params: experts (8), top_k (1), capacity_factor (1.25, training
    only), eval_capacity_factor (0 = no limit), aux_weight (training only: not
    part of an export's loss). An export is an evaluation pass (harness/export.c
    runs it with training off), so its capacity is eval_capacity_factor's."""
    ap = cfg.get("arch_params") or {}
    n_exp, k = int(ap.get("experts", 8)), int(ap.get("top_k", 1))
    cf = float(ap.get("eval_capacity_factor", 0))
    return nn.ModuleList(MoEBlock(cfg["dim"], cfg["heads"], cfg["ffn"], n_exp, k, cf, dtype)
                         for _ in range(cfg["depth"]))


# arch name -> block-stack builder (cfg, dtype) -> nn.ModuleList
ARCHS = {
    "vanilla": build_vanilla_blocks,
    "linformer": build_linformer_blocks,
    "performer": build_performer_blocks,
    "wide": build_wide_blocks,
    "poolformer": build_poolformer_blocks,
    "mamba": build_mamba_blocks,
    "moe": build_moe_blocks,
}
# arch name -> arch_params keys the reference implements (others are refused)
# (vanilla's "attention" picks effbench's kernel, blockwise or naive; both
# compute the same function, so the reference accepts it and ignores it)
ARCH_PARAMS = {
    "vanilla": {"causal", "attention"},
    "linformer": {"k", "share"},
    "performer": {"features", "redraw", "kernel"},
    "wide": {"heads", "attention"},
    "poolformer": {"pool"},
    "mamba": {"state", "expand", "dt_rank", "conv", "bidirectional"},
    "moe": {"experts", "top_k", "capacity_factor", "eval_capacity_factor", "aux_weight"},
}


class Embedding(nn.Module):
    """tok [V(+1 for cls), D], pos [max_len, D]."""

    def __init__(self, rows, max_len, d, dtype):
        super().__init__()
        self.tok = _param(rows, d, dtype=dtype)
        self.pos = _param(max_len, d, dtype=dtype)


class Head(nn.Module):
    """w [C,D], b [C]; pair models: w [C,F], b [C] and pair.w [F,4D], pair.b [F]."""

    def __init__(self, d, classes, dtype, pair_ffn=0):
        super().__init__()
        self.w = _param(classes, pair_ffn or d, dtype=dtype)
        self.b = _param(classes, dtype=dtype)
        if pair_ffn:
            self.pair = nn.Module()
            self.pair.w = _param(pair_ffn, 4 * d, dtype=dtype)
            self.pair.b = _param(pair_ffn, dtype=dtype)


class EffbenchModel(nn.Module):
    """Shared wrapper: embedding, block stack, final LN, pooling, head.

    forward(tokens [B,N] int, mask [B,N] (nonzero = real)) -> logits [B,C].

    Pair models (cfg["pair"], LRA's two-tower Retrieval head): both inputs go
    through the same encoder (embedding, blocks, final LN, pooling), one after
    the other; with pooled a, b the classifier reads
    z = ReLU(pair.w [a, b, a*b, a-b] + pair.b), logits = w z + b.
    forward(tokens, mask, tokens2, mask2) -> logits [B,C].
    """

    def __init__(self, cfg, blocks, dtype):
        super().__init__()
        self.pool = cfg["pool"]
        if self.pool not in ("mean", "cls"):
            raise ValueError("unknown pool %r" % (self.pool,))
        self.vocab = cfg["vocab"]
        d = cfg["dim"]
        rows = self.vocab + (1 if self.pool == "cls" else 0)
        self.embed = Embedding(rows, cfg["max_len"], d, dtype)
        self.blocks = blocks
        self.final_ln = LayerNorm(d, dtype)
        self.pair = bool(cfg.get("pair", False))
        self.head = Head(d, cfg["classes"], dtype, cfg["ffn"] if self.pair else 0)

    def forward(self, tokens, mask, tokens2=None, mask2=None):
        if not self.pair:
            return F.linear(self.encode(tokens, mask), self.head.w, self.head.b)
        if tokens2 is None or mask2 is None:
            raise ValueError("pair model: the second sequence (tokens2, mask2) is missing")
        a = self.encode(tokens, mask)
        b = self.encode(tokens2, mask2)
        z = F.relu(F.linear(torch.cat([a, b, a * b, a - b], dim=-1),
                            self.head.pair.w, self.head.pair.b))
        return F.linear(z, self.head.w, self.head.b)

    def encode(self, tokens, mask):
        """tokens [B,N], mask [B,N] -> pooled [B,D]"""
        ids = tokens.long()
        mask = mask != 0
        b = ids.shape[0]
        if self.pool == "cls":
            # CLS token id = vocab, prepended; always a real position.
            cls = torch.full((b, 1), self.vocab, dtype=ids.dtype, device=ids.device)
            ids = torch.cat([cls, ids], dim=1)
            mask = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=mask.device),
                              mask], dim=1)
        n = ids.shape[1]
        if n > self.embed.pos.shape[0]:
            raise ValueError("sequence length %d > max_len %d" % (n, self.embed.pos.shape[0]))
        x = self.embed.tok[ids] + self.embed.pos[:n]                  # [B,N',D]
        for blk in self.blocks:
            x = blk(x, mask)
        x = self.final_ln(x)
        if self.pool == "cls":
            pooled = x[:, 0]                                          # [B,D]
        else:
            w = mask.to(x.dtype)                                      # [B,N']
            # An all-padding sequence pools to zeros (count clamped to 1).
            pooled = (x * w[:, :, None]).sum(1) / w.sum(1, keepdim=True).clamp(min=1.0)
        return pooled                                                 # [B,D]


def loss_fn(logits, labels):
    """Mean cross-entropy over the batch; logits [B,C], labels [B] int."""
    return F.cross_entropy(logits, labels.long())


def build_model(cfg, dtype=torch.float64):
    """cfg: effbench config dict (arch, dim, depth, heads, ffn, pool, vocab,
    classes, max_len, arch_params). Raises ValueError on unknown arch or
    arch_params the reference does not implement."""
    arch = cfg["arch"]
    if arch not in ARCHS:
        raise ValueError("no torch reference for arch %r (have: %s)"
                         % (arch, ", ".join(sorted(ARCHS))))
    unknown = set(cfg.get("arch_params") or {}) - ARCH_PARAMS[arch]
    if unknown:
        raise ValueError("arch %r: torch reference does not implement arch_params %s"
                         % (arch, sorted(unknown)))
    return EffbenchModel(cfg, ARCHS[arch](cfg, dtype), dtype)


def init_params(model, seed=0, std=0.02):
    """Deterministic init for benchmarks and self-tests: LayerNorm g=1, b=0;
    biases 0; everything else N(0, std)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "g":
                p.fill_(1.0)
            elif p.dim() == 1:
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.dtype) * std)


def load_params(model, tensors):
    """Copy tensors {name: array-like} into the model's parameters.

    Returns (missing, unexpected, bad_shape): names the model has but tensors
    lack, names in tensors the model does not have, and (name, want, got)
    shape mismatches. Nothing is silently ignored."""
    params = dict(model.named_parameters())
    params.update(model.named_buffers())  # effbench's non-trainable eb_param_buffer tensors
    missing = sorted(set(params) - set(tensors))
    unexpected = sorted(set(tensors) - set(params))
    bad_shape = []
    with torch.no_grad():
        for name, p in params.items():
            if name not in tensors:
                continue
            t = torch.as_tensor(tensors[name])
            if tuple(t.shape) != tuple(p.shape):
                bad_shape.append((name, tuple(p.shape), tuple(t.shape)))
                continue
            p.copy_(t.to(p.dtype))
    return missing, unexpected, bad_shape
