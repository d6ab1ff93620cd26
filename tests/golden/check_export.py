#!/usr/bin/python3
"""Golden cross-check of an `effbench export --with-batch` file against PyTorch.

usage: check_export.py FILE.safetensors [-v] [--require-padding]
       check_export.py --self-test

Loads the export's parameters into the float64 reference model of
torch_models.py (chosen by config["arch"]), runs forward and backward on the
exported batch and compares logits and loss (rel. error <= 1e-4) and every
parameter gradient (<= 1e-3). Each tensor is judged slice by slice
(tensor_slices: per sequence for the logits, per (q|k|v, head) for attention
projections, per position for position tables, per row otherwise), each
against its own scale:

    rel. error = max over slices of max|effbench - torch| over the slice
                 / max(max|torch| over the slice, 1e-2 * max|torch| over the tensor, 1e-12)

so an error confined to one small head or one padded position is not hidden
by a larger head or position elsewhere in the tensor (the whole-tensor
max-based error is printed beside it).

Every exported parameter must be used by the reference model and vice versa,
and every parameter must have its grad.<name>. Exit 0 when everything matches,
1 on any mismatch or malformed/incomplete export, 2 on bad usage, 77 when
torch is not installed.

--self-test writes exports from the reference itself (parameters, batch,
outputs, gradients) and checks that they pass, that perturbed or incomplete
ones fail, and that the torch forward agrees with a plain numpy transcription
of the model definition.
"""

import argparse
import json
import os
import struct
import sys
import tempfile

try:
    import torch
except ImportError:
    print("SKIPPED: python3-torch not installed")
    sys.exit(77)
try:
    import numpy as np
except ImportError:
    print("SKIPPED: python3-numpy not installed")
    sys.exit(77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402

TOL_OUT = 1e-4
TOL_GRAD = 1e-3
# a slice is judged against at least this fraction of the tensor's largest |ref|
FLOOR_REL = 1e-2

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "u1"}
CONFIG_KEYS = ("arch", "dim", "depth", "heads", "ffn", "pool", "vocab", "classes",
               "max_len", "seed", "batch", "len", "arch_params")
SECTIONS = ("batch.", "out.", "grad.")


class ExportError(Exception):
    pass


# ---------------------------------------------------------------- safetensors

def read_safetensors(path):
    """-> (tensors {name: np.ndarray}, metadata {str: str}). Raises ExportError."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ExportError("%s: shorter than the 8-byte header length" % path)
    (hlen,) = struct.unpack("<Q", blob[:8])
    if 8 + hlen > len(blob):
        raise ExportError("%s: header length %d exceeds file size %d" % (path, hlen, len(blob)))
    try:
        header = json.loads(blob[8:8 + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ExportError("%s: header is not JSON: %s" % (path, e))
    if not isinstance(header, dict):
        raise ExportError("%s: header is not a JSON object" % path)
    data = memoryview(blob)[8 + hlen:]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        try:
            dt = np.dtype(DTYPES[info["dtype"]])
            shape = [int(s) for s in info["shape"]]
            begin, end = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as e:
            raise ExportError("%s: tensor %s: bad header entry %r (%s)" % (path, name, info, e))
        count = int(np.prod(shape, dtype=np.int64))
        if not 0 <= begin <= end <= len(data) or end - begin != count * dt.itemsize:
            raise ExportError("%s: tensor %s: offsets [%d,%d) do not fit %s %s in %d data bytes"
                              % (path, name, begin, end, info["dtype"], shape, len(data)))
        tensors[name] = np.frombuffer(data[begin:end], dtype=dt).reshape(shape).copy()
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    """tensors {name: np.ndarray of float32/int32/uint8}; metadata {str: str}."""
    rev = {np.dtype(v).str: k for k, v in DTYPES.items()}
    header, chunks, off = {"__metadata__": metadata}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": rev[arr.dtype.newbyteorder("<").str], "shape": list(arr.shape),
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hjson = json.dumps(header).encode()
    hjson += b" " * (-len(hjson) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks))


# ---------------------------------------------------------------- check

def rel_error(ours, ref):
    """-> (rel. error, worst flat index) of ours vs reference ref (float64
    arrays), against the largest |ref| of the whole tensor."""
    diff = np.abs(ours - ref)
    if diff.size == 0:
        return 0.0, 0
    worst = int(np.argmax(diff))
    return float(diff.flat[worst]) / max(float(np.max(np.abs(ref))), 1e-12), worst


def _heads_of(cfg):
    """Attention heads of the export's layers (wide: its own `heads` parameter)."""
    ap = cfg.get("arch_params") or {}
    if cfg["arch"] == "wide":  # 0 or absent: auto, the deep model's depth x heads
        return int(ap.get("heads", 0)) or cfg["depth"] * cfg["heads"]
    return int(cfg["heads"])


def _padded_positions(cfg, mask):
    """-> set of model positions (CLS included) that are padding in at least
    one sequence of the batch (mask [B,N] or None)."""
    if mask is None or mask.ndim != 2:
        return set()
    off = 1 if cfg["pool"] == "cls" else 0
    return {int(j) + off for j in np.nonzero((mask == 0).any(0))[0]}


def tensor_slices(name, shape, cfg, mask=None):
    """The slices a compared tensor is judged by: list of (label, index).

    out.logits [B,C]: one per sequence (label says whether it is padded);
    grad.*attn.wqkv [3D,D], grad.*attn.bqkv [3D]: one per (q|k|v, head) block
    of rows; grad.*attn.wo [D,D]: one per head's block of input columns;
    grad.head.pair.w [F,4D]: one per feature block a, b, a*b, a-b;
    grad.embed.pos [L,D]: one per position; grad.*attn.E / attn.F [k,L]
    (Linformer): one per position (column); any other tensor of 2+ dims: one
    per leading row; 1-D and scalars: the whole tensor. Positions that are
    padding in some sequence of the batch are labelled "padded"."""
    whole = [("all", Ellipsis)]
    if not shape:
        return whole
    pads = _padded_positions(cfg, mask)
    base = name[5:] if name.startswith("grad.") else name
    leaf = base.split(".")[-2:]
    if name == "out.logits" and len(shape) == 2:
        out = []
        for b in range(shape[0]):
            # (a pair export's mask holds both towers: rows b and B + b)
            rows = [b, b + shape[0]] if mask is not None and mask.shape[0] == 2 * shape[0] else [b]
            padded = mask is not None and mask.ndim == 2 and \
                any(r < mask.shape[0] and bool((mask[r] == 0).any()) for r in rows)
            out.append(("seq %d%s" % (b, " (padded)" if padded else ""), np.s_[b]))
        return out
    if not name.startswith("grad."):
        return whole
    h = _heads_of(cfg)
    d = cfg["dim"]
    if leaf in (["attn", "wqkv"], ["attn", "bqkv"]) and shape[0] == 3 * d and d % h == 0:
        dh = d // h
        return [("%s head %d" % ("qkv"[part], i), np.s_[part * d + i * dh:part * d + (i + 1) * dh])
                for part in range(3) for i in range(h)]
    if leaf == ["attn", "wo"] and len(shape) == 2 and shape[1] == d and d % h == 0:
        dh = d // h
        return [("head %d" % i, np.s_[:, i * dh:(i + 1) * dh]) for i in range(h)]
    if base == "head.pair.w" and len(shape) == 2 and shape[1] == 4 * d:
        return [("features %s" % part, np.s_[:, i * d:(i + 1) * d])
                for i, part in enumerate(("a", "b", "a*b", "a-b"))]
    if base == "embed.pos" and len(shape) == 2:
        return [("position %d%s" % (j, " (padded)" if j in pads else ""), np.s_[j])
                for j in range(shape[0])]
    if leaf in (["attn", "E"], ["attn", "F"]) and len(shape) == 2:
        return [("position %d%s" % (j, " (padded)" if j in pads else ""), np.s_[:, j])
                for j in range(shape[1])]
    if len(shape) >= 2:
        return [("row %d" % i, np.s_[i]) for i in range(shape[0])]
    return whole


def sliced_error(ours, ref, slices):
    """-> (rel. error, label, worst index) of the worst slice, where a slice's
    rel. error is max|ours - ref| over the slice divided by its own scale:
    max(max|ref| over the slice, FLOOR_REL * max|ref| over the tensor, 1e-12).
    The floor keeps slices whose reference is (nearly) zero, e.g. padded
    positions, from being judged on float32 rounding of cancelling sums alone."""
    if ours.size == 0:
        return 0.0, "all", ()
    top = float(np.max(np.abs(ref)))
    flat_idx = np.arange(ours.size).reshape(ours.shape)
    worst = (-1.0, "all", ())
    for label, ix in slices:
        o, r, fi = ours[ix], ref[ix], flat_idx[ix]
        if np.size(o) == 0:
            continue
        diff = np.abs(o - r)
        k = int(np.argmax(diff))
        scale = max(float(np.max(np.abs(r))), FLOOR_REL * top, 1e-12)
        err = float(np.ravel(diff)[k]) / scale
        if err > worst[0]:
            worst = (err, label, np.unravel_index(int(np.ravel(fi)[k]), ours.shape))
    return worst


def parse_config(meta):
    if "config" not in meta:
        raise ExportError("no __metadata__.config in the header")
    try:
        cfg = json.loads(meta["config"])
    except (TypeError, ValueError) as e:
        raise ExportError("__metadata__.config is not a JSON string: %s" % e)
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    if missing:
        raise ExportError("config lacks keys: %s" % ", ".join(missing))
    return cfg


def check(path, verbose=False, out=sys.stdout, require_padding=False):
    """Returns the exit status (0 ok, 1 mismatch/error) and prints findings."""
    def say(msg):
        print(msg, file=out)

    try:
        tensors, meta = read_safetensors(path)
        cfg = parse_config(meta)
    except (OSError, ExportError) as e:
        say("ERROR: %s" % e)
        return 1

    problems = []
    params = {k: v for k, v in tensors.items() if not k.startswith(SECTIONS)}
    grads = {k[5:]: v for k, v in tensors.items() if k.startswith("grad.")}
    need = ["batch.tokens", "batch.mask", "batch.labels", "out.logits", "out.loss"]
    absent = [n for n in need if n not in tensors]
    if absent:
        say("ERROR: %s: missing %s (was it exported with --with-batch?)"
            % (path, ", ".join(absent)))
        return 1
    pair = bool(cfg.get("pair", False))
    if pair:
        need2 = [n for n in ("batch.tokens2", "batch.mask2") if n not in tensors]
        if need2:
            say("ERROR: %s: a pair export without %s" % (path, ", ".join(need2)))
            return 1
    known = set(need) | {"grad." + n for n in params} | set(params)
    if pair:
        known |= {"batch.tokens2", "batch.mask2"}
    for name in sorted(set(tensors) - known):
        problems.append("unexpected tensor %s (grad of no exported parameter, or unknown batch./out. name)"
                        % name)

    try:
        model = torch_models.build_model(cfg, torch.float64)
    except (ValueError, KeyError) as e:
        say("ERROR: %s: %s" % (path, e))
        return 1
    missing, unexpected, bad_shape = torch_models.load_params(model, params)
    for n in missing:
        problems.append("parameter %s: torch model has it, export does not" % n)
    for n in unexpected:
        problems.append("parameter %s: exported but not used by the torch %s model" % (n, cfg["arch"]))
    for n, want, got in bad_shape:
        problems.append("parameter %s: shape %s in export, torch expects %s" % (n, list(got), list(want)))
    for n in sorted(set(dict(model.named_parameters())) - set(grads)):
        problems.append("grad.%s: missing from export" % n)

    tokens = torch.from_numpy(tensors["batch.tokens"].astype(np.int64))
    mask = torch.from_numpy(tensors["batch.mask"].astype(np.int64))
    labels = torch.from_numpy(tensors["batch.labels"].astype(np.int64))
    b, n = tokens.shape if tokens.dim() == 2 else (-1, -1)
    if tokens.dim() != 2 or tuple(mask.shape) != (b, n) or tuple(labels.shape) != (b,):
        problems.append("batch shapes tokens %s mask %s labels %s are inconsistent"
                        % (list(tokens.shape), list(mask.shape), list(labels.shape)))
    elif (b, n) != (cfg["batch"], cfg["len"]):
        problems.append("batch.tokens is %s but config says batch %s len %s"
                        % ([b, n], cfg["batch"], cfg["len"]))
    if float(cfg.get("dropout", 0) or 0) != 0:
        problems.append("config dropout %s: exports must be made without dropout" % cfg["dropout"])
    if require_padding and not bool((mask == 0).any()):
        problems.append("batch.mask has no padding (--require-padding): the masked paths are untested")
    if problems and (missing or bad_shape or tokens.dim() != 2):
        for p in problems:
            say("FAIL " + p)
        say("%s: FAILED before comparing (%d problems)" % (path, len(problems)))
        return 1

    second = ()
    if pair:
        second = (torch.from_numpy(tensors["batch.tokens2"].astype(np.int64)),
                  torch.from_numpy(tensors["batch.mask2"].astype(np.int64)))
        if tuple(second[0].shape) != tuple(tokens.shape) or \
                tuple(second[1].shape) != tuple(tokens.shape):
            problems.append("batch.tokens2 %s / batch.mask2 %s do not match batch.tokens %s"
                            % (list(second[0].shape), list(second[1].shape),
                               list(tokens.shape)))
        if require_padding and not bool((second[1] == 0).any()):
            problems.append("batch.mask2 has no padding (--require-padding)")
    try:
        logits = model(tokens, mask, *second)
        loss = torch_models.loss_fn(logits, labels)
        model.zero_grad()
        loss.backward()
    except (RuntimeError, IndexError, ValueError) as e:
        say("ERROR: %s: torch forward/backward failed: %s" % (path, e))
        return 1

    compared = [("out.logits", tensors["out.logits"], logits.detach(), TOL_OUT),
                ("out.loss", tensors["out.loss"], loss.detach().reshape(-1), TOL_OUT)]
    for name, p in model.named_parameters():
        if name in grads:
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            compared.append(("grad." + name, grads[name], g, TOL_GRAD))

    worst_all = (0.0, None)
    nfail = 0
    mask_np = tensors["batch.mask"]
    if pair:
        mask_np = np.concatenate([mask_np, tensors["batch.mask2"]], 0)
    for name, ours, ref, tol in compared:
        ref = ref.numpy().astype(np.float64)
        ours = np.asarray(ours, dtype=np.float64)
        if ours.shape != ref.shape:
            problems.append("%s: shape %s in export, torch gives %s" % (name, list(ours.shape), list(ref.shape)))
            continue
        if not np.all(np.isfinite(ours)):
            bad = np.unravel_index(int(np.argmax(~np.isfinite(ours))), ours.shape)
            say("FAIL %-28s non-finite value at %s: effbench %r torch %r"
                % (name, list(bad), ours[bad], ref[bad]))
            nfail += 1
            continue
        err, label, idx = sliced_error(ours, ref, tensor_slices(name, ours.shape, cfg, mask_np))
        whole, _ = rel_error(ours, ref)
        if err > worst_all[0] or worst_all[1] is None:
            worst_all = (err, "%s %s" % (name, label))
        line = ("%-28s rel err %.3e (tol %.0e) worst slice %s, at %s: effbench %.9g torch %.9g; "
                "whole-tensor rel err %.3e"
                % (name, err, tol, label, list(int(i) for i in idx),
                   ours[idx] if ours.size else 0, ref[idx] if ref.size else 0, whole))
        if err > tol:
            say("FAIL " + line)
            nfail += 1
        elif verbose:
            say("ok   " + line)
    for p in problems:
        say("FAIL " + p)
    status = "ok" if not problems and nfail == 0 else "FAILED"
    say("%s: %s arch=%s%s pool=%s dim=%s depth=%s heads=%s len=%s batch=%s: %d tensors compared, "
        "%d failed, %d other problems; worst rel err %.3e (%s)"
        % (os.path.basename(path), status, cfg["arch"],
           json.dumps(cfg["arch_params"], separators=(",", ":")) if cfg["arch_params"] else "",
           cfg["pool"], cfg["dim"], cfg["depth"],
           cfg["heads"], cfg["len"], cfg["batch"], len(compared), nfail,
           len(problems), worst_all[0], worst_all[1]))
    return 0 if status == "ok" else 1


# ---------------------------------------------------------------- self-test

def _numpy_forward(cfg, p, tokens, mask):
    """Plain transcription of the model definition (float64, loops over heads),
    independent of torch_models; -> logits [B,C]."""
    def ln(x, g, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * g + b

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))

    ids, m = tokens.astype(np.int64), mask.astype(bool)
    bsz = ids.shape[0]
    if cfg["pool"] == "cls":
        ids = np.concatenate([np.full((bsz, 1), cfg["vocab"]), ids], 1)
        m = np.concatenate([np.ones((bsz, 1), bool), m], 1)
    n, d, h = ids.shape[1], cfg["dim"], cfg["heads"]
    dh = d // h
    causal = bool((cfg.get("arch_params") or {}).get("causal", False))
    x = p["embed.tok"][ids] + p["embed.pos"][:n]
    for i in range(cfg["depth"]):
        pre = "blocks.%d." % i
        a = ln(x, p[pre + "ln1.g"], p[pre + "ln1.b"])
        qkv = a @ p[pre + "attn.wqkv"].T + p[pre + "attn.bqkv"]
        q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
        o = np.zeros_like(q)
        for bi in range(bsz):
            for hh in range(h):
                cols = slice(hh * dh, hh * dh + dh)
                for i in range(n):
                    ok = m[bi] & (np.arange(n) <= i if causal else True)
                    if not ok.any():
                        continue  # no usable key: output row stays zero
                    s = q[bi, i, cols] @ k[bi, :, cols].T / np.sqrt(dh)
                    e = np.where(ok, np.exp(s - s[ok].max()), 0.0)
                    o[bi, i, cols] = (e / e.sum()) @ v[bi, :, cols]
        x = x + o @ p[pre + "attn.wo"].T + p[pre + "attn.bo"]
        mm = ln(x, p[pre + "ln2.g"], p[pre + "ln2.b"])
        x = x + gelu(mm @ p[pre + "mlp.w1"].T + p[pre + "mlp.b1"]) @ p[pre + "mlp.w2"].T + p[pre + "mlp.b2"]
    x = ln(x, p["final_ln.g"], p["final_ln.b"])
    if cfg["pool"] == "cls":
        pooled = x[:, 0]
    else:
        w = m.astype(np.float64)
        pooled = (x * w[..., None]).sum(1) / np.maximum(w.sum(1, keepdims=True), 1)
    return pooled @ p["head.w"].T + p["head.b"]


def _make_export(cfg, seed, empty_row=False, scatter=False):
    """Reference-made export {name: array} in effbench's format (float32)."""
    rng = np.random.default_rng(seed)
    model = torch_models.build_model(cfg, torch.float64)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.3 if p.dim() > 1 else 0.2
            v = rng.normal(0, scale, p.shape) + (1.0 if name.endswith(".g") else 0.0)
            p.copy_(torch.from_numpy(v.astype(np.float32).astype(np.float64)))
    b, n = cfg["batch"], cfg["len"]
    tokens = rng.integers(1, cfg["vocab"], (b, n)).astype(np.int32)
    lens = rng.integers(1, n + 1, b)
    lens[0] = n
    if empty_row:
        lens[-1] = 0
    mask = (np.arange(n)[None, :] < lens[:, None]).astype(np.uint8)
    if scatter:  # padding anywhere, incl. position 0 (causal rows without keys)
        mask[1:] = rng.random((b - 1, n)) < 0.5
        mask[1:, 0] = 0
    tokens[mask == 0] = 0
    labels = rng.integers(0, cfg["classes"], b).astype(np.int32)
    logits = model(torch.from_numpy(tokens), torch.from_numpy(mask))
    loss = torch_models.loss_fn(logits, torch.from_numpy(labels))
    loss.backward()
    params = {k: v.detach().numpy() for k, v in model.named_parameters()}
    ref = _numpy_forward(cfg, params, tokens, mask)
    err, _ = rel_error(logits.detach().numpy(), ref)
    if err > 1e-10:
        raise AssertionError("torch_models vs numpy transcription: logits rel err %.3e" % err)
    t = {k: v.astype(np.float32) for k, v in params.items()}
    t.update({"batch.tokens": tokens, "batch.mask": mask, "batch.labels": labels,
              "out.logits": logits.detach().numpy().astype(np.float32),
              "out.loss": loss.detach().numpy().reshape(1).astype(np.float32)})
    for k, v in model.named_parameters():
        t["grad." + k] = v.grad.numpy().astype(np.float32)
    return t


def self_test():
    base = dict(arch="vanilla", dim=16, depth=2, heads=4, ffn=24, pool="mean", vocab=11,
                classes=3, max_len=12, seed=0, batch=5, len=9, arch_params={})
    cases = [("mean", dict(base), False), ("cls", dict(base, pool="cls", max_len=10), False),
             ("mean-empty-row", dict(base), True), ("cls-empty-row", dict(base, pool="cls"), True),
             ("mean-causal", dict(base, arch_params={"causal": True}), "scatter"),
             ("cls-causal", dict(base, pool="cls", arch_params={"causal": True}), "scatter")]
    fails = 0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.safetensors")

        def expect(what, tensors, cfg, want):
            nonlocal fails
            write_safetensors(path, tensors, {"config": json.dumps(cfg)})
            with open(os.devnull, "w") as sink:
                got = check(path, out=sys.stdout if want == 0 else sink)
            ok = got == want
            fails += not ok
            print("%s self-test %-40s exit %d (want %d)" % ("ok  " if ok else "FAIL", what, got, want))

        for label, cfg, empty in cases:
            t = _make_export(cfg, seed=len(label), empty_row=empty is True,
                             scatter=empty == "scatter")
            expect(label + ": clean export", t, cfg, 0)
            g = dict(t)
            name = "grad.blocks.1.attn.wqkv"
            bad = g[name].copy()
            bad.flat[int(np.argmax(np.abs(bad)))] *= 1.01
            g[name] = bad
            expect(label + ": gradient perturbed 1%", g, cfg, 1)
            g = dict(t)
            g["out.logits"] = g["out.logits"] * np.float32(1 + 1e-3)
            expect(label + ": logits scaled 1e-3", g, cfg, 1)
            g = dict(t)
            del g["blocks.0.mlp.b2"]
            expect(label + ": parameter missing", g, cfg, 1)
            g = dict(t)
            del g["grad.final_ln.b"]
            expect(label + ": gradient missing", g, cfg, 1)
            g = dict(t, **{"blocks.0.extra": np.zeros(3, np.float32)})
            expect(label + ": unknown parameter", g, cfg, 1)
        # an error confined to one slice, half the old tolerance of the whole
        # tensor's scale: the whole-tensor judgement (rel_error) lets it pass,
        # the slice, judged on its own smaller scale, fails
        t = _make_export(base, seed=7)
        for what, name, want in (("one head's gradient off", "grad.blocks.0.attn.wqkv", "head"),
                                 ("one padded position's gradient off", "grad.embed.pos",
                                  "(padded)")):
            ref = t[name].astype(np.float64)
            top = float(np.max(np.abs(ref)))
            lab, ix = min(((lab, ix) for lab, ix in
                           tensor_slices(name, ref.shape, base, t["batch.mask"]) if want in lab),
                          key=lambda li: float(np.max(np.abs(ref[li[1]]))))
            small = float(np.max(np.abs(ref[ix])))
            bad = ref.copy()
            sub = bad[ix]
            sub.flat[int(np.argmax(np.abs(sub)))] += 0.5 * TOL_GRAD * top
            bad[ix] = sub
            whole, _ = rel_error(bad, ref)
            sliced, _, _ = sliced_error(bad, ref, tensor_slices(name, ref.shape, base,
                                                                t["batch.mask"]))
            if not (whole <= TOL_GRAD < sliced and small < 0.25 * top):
                fails += 1
                print("FAIL self-test %s: slice %s (scale %.3g of %.3g): whole-tensor error "
                      "%.3e should pass, the slice's %.3e fail" % (what, lab, small, top, whole,
                                                                   sliced))
            expect("%s (%s: %.1e, whole %.1e)" % (what, lab, sliced, whole),
                   dict(t, **{name: bad.astype(np.float32)}), base, 1)
        expect("unknown arch_params", t, dict(base, arch_params={"k": 4}), 1)
        expect("unknown arch", t, dict(base, arch="nosuch"), 1)
    print("self-test: %s" % ("ok" if not fails else "%d FAILED" % fails))
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", help="export written by effbench export --with-batch")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every compared tensor")
    ap.add_argument("--require-padding", action="store_true",
                    help="fail unless batch.mask pads at least one position")
    ap.add_argument("--self-test", action="store_true", help="test this checker and the reference")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.file:
        ap.error("FILE is required")
    return check(args.file, args.verbose, require_padding=args.require_padding)


if __name__ == "__main__":
    sys.exit(main())
