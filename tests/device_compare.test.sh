#!/usr/bin/env bash
# ctest-labels: e2e
# bench/device-bundle and bench/device-compare, the prepared script for a
# lent machine (docs/performance.md), run here in --quick mode: the bundle
# runs (its own libraries, through the wrapper), unpacks from its tarball,
# and every comparison lands as one JSON line with both sides measured.
set -u
src=${EB_SRC:?}
eb=${EFFBENCH:?EFFBENCH must point at the binary}
py=/usr/bin/python3
"$py" -c 'import torch' 2>/dev/null || { echo "device_compare: python3-torch missing (skipped)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

"$src/bench/device-bundle" "$(dirname "$eb")" "$tmp/bundle" >"$tmp/bundle.log" 2>&1 ||
  { cat "$tmp/bundle.log"; echo "device_compare: bundling failed" >&2; exit 1; }
[[ -f $tmp/bundle.tar.gz ]] || fail "no tarball"
mkdir -p "$tmp/unpacked"
tar -C "$tmp/unpacked" -xzf "$tmp/bundle.tar.gz" || fail "the tarball does not unpack"
"$tmp/unpacked/effbench" --version >"$tmp/version" 2>&1 || fail "the unpacked bundle does not run: $(cat "$tmp/version")"
grep -q "^effbench " "$tmp/version" || fail "version: $(cat "$tmp/version")"
# the wrapper puts the bundle's libraries first: the loader opens its libsqlite3
LD_DEBUG=libs "$tmp/unpacked/effbench" --version >/dev/null 2>"$tmp/ld.log"
grep -q "$tmp/unpacked/lib/libsqlite3" "$tmp/ld.log" ||
  fail "the wrapper does not load the bundle's libsqlite3: $(grep -i sqlite "$tmp/ld.log" | head -3)"

PYTHON=$py "$src/bench/device-compare" --quick "$tmp/unpacked/effbench" "$tmp/out" 2>"$tmp/dc.log" ||
  fail "device-compare --quick failed: $(cat "$tmp/dc.log" "$tmp/out/errors.txt" 2>/dev/null)"
[[ $(wc -l <"$tmp/out/compare.jsonl") -eq 1 ]] || fail "compare.jsonl: $(cat "$tmp/out/compare.jsonl")"
"$py" - "$tmp/out/compare.jsonl" <<'PY' || fail "compare.jsonl lacks a side"
import json, sys
row = json.loads(open(sys.argv[1]).readline())
text = json.dumps(row)
assert "effbench" in text and "pytorch" in text, text
PY
grep -q "Model name\|Architecture" "$tmp/out/machine.txt" || fail "machine.txt has no lscpu"
grep -q "^torch " "$tmp/out/machine.txt" || fail "machine.txt has no torch version"

if ((fails)); then
  echo "device_compare: $fails check(s) failed" >&2
  exit 1
fi
echo "device_compare: ok"
