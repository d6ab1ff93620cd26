#!/usr/bin/env bash
# ctest-labels: e2e
# Data provenance end to end: a run stores its data source (generator, rule and
# seed; or path, size and SHA-256 of each file read); report's column header
# and plot's titles name it; runs of one task from different kinds of source
# are refused with exit 2 naming the task and the sources, and accepted with
# --mix-sources, which the header and caption then say.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 (the CLI) not installed"; exit 77; }

common='seeds: [0]
model: {dim: 16, depth: 1, heads: 2, ffn: 32, dropout: 0.0}
train: {steps: 4, batch: 2, lr: 1e-3, warmup: 1, eval_every: 2, eval_batches: 1}
archs: [vanilla]'
cat >"$tmp/gen.yaml" <<Y
suite: prov
data_seed: 7
$common
tasks:
  - text: {max_len: 128, train: 16, val: 4, test: 4}
Y
cat >"$tmp/files.yaml" <<Y
suite: prov
$common
tasks:
  - text: {path: "$src/tests/data/text/tsv", max_len: 128, val: 1}
Y
db="$tmp/r.db"
"$eb" run "$tmp/gen.yaml" --db "$db" >"$tmp/log" 2>&1 || fail "generated run: $(cat "$tmp/log")"

# the stored source: generator, rule, seed
row=$(sqlite3 "$db" "SELECT data_kind, data_label, data_source FROM runs")
grep -q '^generated|generated sentiment, seed 7|{"generator":"text-gen-2","rule":"sentiment","seed":7,' <<<"$row" ||
  fail "generated source: $row"
out=$("$eb" report --db "$db" --table accuracy 2>&1) || fail "report: $out"
grep -q '| arch | text (generated sentiment, seed 7) | Avg |' <<<"$out" || fail "header: $out"

"$eb" run "$tmp/files.yaml" --db "$db" >"$tmp/log" 2>&1 || fail "files run: $(cat "$tmp/log")"
# the stored source: each file's path, size and SHA-256
tsv="$src/tests/data/text/tsv"
detail=$(sqlite3 "$db" "SELECT data_source FROM runs WHERE data_kind='files:tsv'")
for f in train.tsv test.tsv; do
  sum=$(sha256sum "$tsv/$f" | cut -d' ' -f1)
  size=$(stat -c %s "$tsv/$f")
  grep -qF "{\"path\":\"$f\",\"bytes\":$size,\"sha256\":\"$sum\"}" <<<"$detail" ||
    fail "$f not described (size $size, sha256 $sum): $detail"
done
# the set's digest is sha256sum's listing of the files, hashed
manifest=$(cd "$tsv" && sha256sum test.tsv train.tsv | sha256sum | cut -d' ' -f1)
grep -qF "\"sha256\":\"$manifest\"" <<<"$detail" || fail "manifest $manifest: $detail"
grep -qF "\"root\":\"$(realpath "$tsv")\"" <<<"$detail" || fail "root: $detail"

# two kinds of source in the text column: refused, then allowed
out=$("$eb" report --db "$db" --table accuracy 2>&1)
rc=$?
[[ $rc -eq 2 ]] || fail "mixed report exited $rc, expected 2: $out"
grep -q "task 'text'" <<<"$out" && grep -q "generated (generated sentiment, seed 7; 1 run)" <<<"$out" &&
  grep -q "files:tsv (label<TAB>text files, sha256 ${manifest:0:8}; 1 run)" <<<"$out" &&
  grep -q -- "--mix-sources" <<<"$out" || fail "mixed report message: $out"
out=$("$eb" report --db "$db" --table accuracy --format csv 2>&1)
[[ $? -eq 2 ]] || fail "mixed csv report not refused: $out"
out=$("$eb" report --db "$db" --table accuracy --mix-sources 2>&1) || fail "--mix-sources: $out"
grep -qF "| text (mixed sources: generated sentiment, seed 7 + label<TAB>text files, sha256 ${manifest:0:8}) |" <<<"$out" ||
  fail "mixed header: $out"
grep -q 'Warning: columns marked "mixed sources" average runs on different kinds of data (--mix-sources)' <<<"$out" ||
  fail "mixed caption: $out"

# plot: refused the same way; with --mix-sources the titles say so
if command -v gnuplot >/dev/null; then
  out=$("$eb" plot --db "$db" --kind curves --format svg --out "$tmp/fig" 2>&1)
  rc=$?
  [[ $rc -eq 2 ]] && grep -q "task 'text'" <<<"$out" || fail "mixed plot exited $rc: $out"
  [[ ! -e "$tmp/fig/curves-text.gp" ]] || fail "a refused plot drew a figure"
  out=$("$eb" plot --db "$db" --kind curves --format svg --out "$tmp/fig" --mix-sources 2>&1) ||
    fail "plot --mix-sources: $out"
  grep -q "task 'text' (mixed sources: generated sentiment, seed 7 + " "$tmp/fig/curves-text.gp" ||
    fail "curves title: $(grep title "$tmp/fig/curves-text.gp")"
  # one source: its title names it
  sqlite3 "$db" "DELETE FROM runs WHERE data_kind='files:tsv'"
  out=$("$eb" plot --db "$db" --kind curves --format svg --out "$tmp/fig1" 2>&1) || fail "plot: $out"
  grep -q "task 'text' (generated sentiment, seed 7), suite 'prov'" "$tmp/fig1/curves-text.gp" ||
    fail "curves title: $(grep title "$tmp/fig1/curves-text.gp")"
else
  echo "note: gnuplot not installed, plot checks skipped"
fi

[[ $fails -eq 0 ]] && echo "sources: all checks passed"
exit $((fails > 0))
