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


# arch name -> block-stack builder (cfg, dtype) -> nn.ModuleList
ARCHS = {
    "vanilla": build_vanilla_blocks,
}
# arch name -> arch_params keys the reference implements (others are refused)
# (vanilla's "attention" picks effbench's kernel, blockwise or naive; both
# compute the same function, so the reference accepts it and ignores it)
ARCH_PARAMS = {
    "vanilla": {"causal", "attention"},
}


class Embedding(nn.Module):
    """tok [V(+1 for cls), D], pos [max_len, D]."""

    def __init__(self, rows, max_len, d, dtype):
        super().__init__()
        self.tok = _param(rows, d, dtype=dtype)
        self.pos = _param(max_len, d, dtype=dtype)


class Head(nn.Module):
    """w [C,D], b [C]."""

    def __init__(self, d, classes, dtype):
        super().__init__()
        self.w = _param(classes, d, dtype=dtype)
        self.b = _param(classes, dtype=dtype)


class EffbenchModel(nn.Module):
    """Shared wrapper: embedding, block stack, final LN, pooling, head.

    forward(tokens [B,N] int, mask [B,N] (nonzero = real)) -> logits [B,C].
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
        self.head = Head(d, cfg["classes"], dtype)

    def forward(self, tokens, mask):
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
        return F.linear(pooled, self.head.w, self.head.b)             # [B,C]


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
