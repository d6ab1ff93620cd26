#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets (tests/fuzz/corpus/NAME/) from the
fixtures under tests/data. Seeds named valid-* must load and bad-* must be
refused (tests/fuzz/mutate.c checks both); others carry no expectation.
Usage: tests/fuzz/make_corpus.py [EFFBENCH]  (EFFBENCH, an effbench binary,
makes the store's valid-effbench.db seed; without it that seed is kept)."""
import gzip, os, shutil, sqlite3, struct, subprocess, sys, tempfile

SEP = b"\n=EBFUZZ=\n"
here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "data")
out = os.path.join(here, "corpus")


def rd(*p):
    with open(os.path.join(data, *p), "rb") as f:
        return f.read()


def put(target, name, b):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(b)


# suite YAML
for name in ("tiny.yaml", "moe.yaml", "partial.yaml"):
    put("yaml", "valid-" + name, rd("..", "suites", name))
for name in ("aliases.yaml", "syntax.yaml", "unknown-key.yaml", "duplicate-key.yaml",
             "wrong-type.yaml", "task-param.yaml"):
    put("yaml", "bad-" + name, rd("..", "suites", "bad", name))
put("yaml", "bad-deep.yaml", b"suite: deep\nx: " + b"[" * 5000 + b"\n")
put("yaml", "bad-empty.yaml", b"")

# ListOps TSV: train, val, test
lo = [rd("listops", "basic_%s.tsv" % s) for s in ("train", "val", "test")]
put("listops", "valid-fixture.tsv", SEP.join(lo))
put("listops", "valid-train.tsv", lo[0])
put("listops", "bad-header-only.tsv", lo[0].split(b"\n")[0] + b"\n")
put("listops", "bad-unbalanced.tsv", lo[0].split(b"\n")[0] + b"\n( [MAX 2 3\t3\n")

# AAN TSV: train, eval, test
aan = [rd("retrieval", "new_aan_pairs.%s.tsv" % s) for s in ("train", "eval", "test")]
put("retrieval", "valid-fixture.tsv", SEP.join(aan))
put("retrieval", "valid-train.tsv", aan[0])
put("retrieval", "bad-fields.tsv", b"1\tA\tB\tonly one text\n")
put("retrieval", "bad-label.tsv", b"7\tA\tB\tone\ttwo\n")

# text: one file, or train, test[, val]
put("text", "valid-reviews.tsv", rd("text", "reviews.tsv"))
put("text", "valid-folder.tsv", rd("text", "tsv", "train.tsv") + SEP + rd("text", "tsv", "test.tsv"))
put("text", "bad-nolabel.tsv", b"no tab here\nnor here\n")
put("text", "bad-label.tsv", b"x\tgood\ny\tbad\nz\tugly\n")

# IDX: train images, train labels, test images, test labels (plain and .gz)
names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte")
idx = [rd("image", "idx", n) for n in names]
put("idx", "valid-fixture.idx", SEP.join(idx))
put("idx", "valid-train-images.idx", idx[0])
put("idx", "bad-magic.idx", b"\0\0\x09\x03" + idx[0][4:])
put("idx", "bad-count.idx", idx[0][:4] + struct.pack(">I", 1 << 30) + idx[0][8:])
put("idxgz", "valid-fixture-gz.idx", SEP.join(rd("image", "idxgz", n + ".gz") for n in names))
put("idxgz", "valid-plain.idx", SEP.join(idx))
put("idxgz", "bad-truncated-gz.idx", rd("image", "idxgz", names[0] + ".gz")[:40])
put("idxgz", "bad-dims.idx", idx[0][:8] + struct.pack(">II", 0, 28) + idx[0][16:])

# CIFAR-10 binary: data_batch_1.bin, test_batch.bin[, data_batch_2.bin..]
cf = [rd("image", "cifar", n) for n in ("data_batch_1.bin", "test_batch.bin")]
put("cifar", "valid-fixture.bin", SEP.join(cf))
put("cifar", "valid-three.bin", SEP.join([cf[0], cf[1], cf[0]]))
put("cifar", "bad-short.bin", cf[0][:3000])
put("cifar", "bad-label.bin", b"\x0b" + cf[0][1:])

# Pathfinder: metadata/2.npy, imgs/2/sample_0..5.png, metadata/10.npy, imgs/10/sample_0..3.png
cb = ("pathfinder", "curv_baseline")
pf = [rd(*cb, "metadata", "2.npy")] + [rd(*cb, "imgs", "2", "sample_%d.png" % i) for i in range(6)]
pf += [rd(*cb, "metadata", "10.npy")] + [rd(*cb, "imgs", "10", "sample_%d.png" % i) for i in range(4)]
put("pathfinder", "valid-fixture.bin", SEP.join(pf))
put("pathfinder", "valid-metadata.npy", pf[0])
put("pathfinder", "bad-label.npy", pf[0].replace(b" 1 6 0.1", b" 2 6 0.1"))
put("pathfinder", "bad-png.bin", pf[0] + SEP + pf[1][:60])

# database opener
if len(sys.argv) > 1:
    with tempfile.TemporaryDirectory() as t:
        suite = os.path.join(t, "s.yaml")
        with open(suite, "w") as f:
            f.write("suite: fuzzseed\nseeds: [0]\nmodel: {dim: 8, depth: 1, heads: 2, ffn: 8}\n"
                    "train: {steps: 2, batch: 4, eval_every: 2}\n"
                    "tasks:\n  - majority: {len: 8, train: 16, val: 8, test: 8}\n"
                    "archs: [vanilla]\n")
        db = os.path.join(t, "r.db")
        subprocess.run([sys.argv[1], "run", suite, "--db", db, "--threads", "1"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        c = sqlite3.connect(db)
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("PRAGMA page_size=512")
        c.execute("VACUUM")
        c.close()
        with open(db, "rb") as f:
            put("store", "valid-effbench.db", f.read())
with tempfile.TemporaryDirectory() as t:
    db = os.path.join(t, "f.db")
    c = sqlite3.connect(db)
    c.execute("PRAGMA page_size=512")
    c.execute("CREATE TABLE runs(x)")
    c.execute("INSERT INTO runs VALUES (1)")
    c.commit()
    c.close()
    with open(db, "rb") as f:
        put("store", "foreign.db", f.read())
put("store", "empty.db", b"")
put("store", "bad-garbage.db", b"this is not a database\n" * 40)
put("store", "bad-header.db", b"SQLite format 3\0" + b"\xff" * 84)

# data cache (tasks/dataset.c): the checksum is left 0, the fuzz entry reseals it
def cache(vocab, classes, max_len, splits, wide, pair):
    h = b"EBDS0002" + struct.pack("<iiii", vocab, classes, max_len, 0)
    for n in splits:
        h += struct.pack("<qiiii", n, max_len, wide, pair, 0)
    h += struct.pack("<Q", 0)
    h += b"\0" * (-len(h) % 64)
    body = b""
    for k, n in enumerate(splits):
        secs = []
        tok = bytes((1 + (i + k) % (vocab - 1)) for i in range(n * max_len))
        if wide:
            tok = b"".join(struct.pack("<H", t) for t in tok)
        secs.append(tok)
        if pair:
            secs.append(tok)
        lens = b"".join(struct.pack("<i", 1 + i % max_len) for i in range(n))
        secs.append(lens)
        if pair:
            secs.append(lens)
        secs.append(b"".join(struct.pack("<i", i % classes) for i in range(n)))
        for s in secs:
            body += s + b"\0" * (-len(s) % 64)
    return h + body

put("cache", "valid-small.ebds", cache(10, 2, 4, (3, 2, 2), 0, 0))
put("cache", "valid-wide-pair.ebds", cache(300, 3, 5, (4, 1, 2), 1, 1))
put("cache", "bad-v1.ebds", b"EBDS0001" + cache(10, 2, 4, (3, 2, 2), 0, 0)[8:])
put("cache", "bad-short.ebds", cache(10, 2, 4, (3, 2, 2), 0, 0)[:-64])
