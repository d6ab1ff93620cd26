#!/usr/bin/python3
"""Golden cross-check of an `effbench export --with-batch` file against PyTorch.

usage: check_export.py FILE.safetensors [-v] [--require-padding]
       check_export.py --self-test

Loads the export's parameters into the float64 reference model of
torch_models.py (chosen by config["arch"]), runs forward and backward on the
exported batch and compares logits and loss (rel. error <= 1e-4) and every
parameter gradient (<= 1e-3), where

    rel. error = max|effbench - torch| / max(max|torch|, 1e-12).

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
    """-> (rel. error, worst flat index) of ours vs reference ref (float64 arrays)."""
    diff = np.abs(ours - ref)
    if diff.size == 0:
        return 0.0, 0
    worst = int(np.argmax(diff))
    return float(diff.flat[worst]) / max(float(np.max(np.abs(ref))), 1e-12), worst


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
    known = set(need) | {"grad." + n for n in params} | set(params)
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

    try:
        logits = model(tokens, mask)
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
        err, worst = rel_error(ours, ref)
        idx = np.unravel_index(worst, ours.shape) if ours.size else ()
        if err > worst_all[0] or worst_all[1] is None:
            worst_all = (err, name)
        line = ("%-28s rel err %.3e (tol %.0e) worst at %s: effbench %.9g torch %.9g max|torch| %.3g"
                % (name, err, tol, list(int(i) for i in idx),
                   ours[idx] if ours.size else 0, ref[idx] if ref.size else 0,
                   float(np.max(np.abs(ref))) if ref.size else 0))
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
        t = _make_export(base, seed=7)
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
