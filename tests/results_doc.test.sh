#!/usr/bin/env bash
# ctest-labels: e2e
# docs/results.md's tables are what `effbench report` prints from the committed
# databases in docs/results/ (issue 21): scripts/results-doc --check regenerates
# every table and fails on any difference; a table edited by hand is caught.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
EFFBENCH=$eb "$src/scripts/results-doc" --check || fail "docs/results.md differs from its databases"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# a copy with one number changed inside a table must be refused
mkdir -p "$tmp/docs"
cp -r "$src/docs/results" "$tmp/docs/"
mkdir -p "$tmp/scripts"
cp "$src/scripts/results-doc" "$tmp/scripts/"
awk 'BEGIN{done=0} /^\| vanilla \|/ && !done {sub(/[0-9]+\.[0-9][0-9]/, "99.99"); done=1} {print}' \
  "$src/docs/results.md" >"$tmp/docs/results.md"
cmp -s "$src/docs/results.md" "$tmp/docs/results.md" && fail "the test's edit changed nothing"
if EFFBENCH=$eb "$tmp/scripts/results-doc" --check >"$tmp/out" 2>&1; then
  fail "an edited table passed: $(cat "$tmp/out")"
fi
grep -q '99.99' "$tmp/out" || fail "the diff does not show the edit: $(cat "$tmp/out")"
# --write puts the database's numbers back
EFFBENCH=$eb "$tmp/scripts/results-doc" --write >/dev/null || fail "--write"
cmp -s "$src/docs/results.md" "$tmp/docs/results.md" || fail "--write did not restore the tables"
if ((fails)); then
  echo "results_doc: $fails check(s) failed" >&2
  exit 1
fi
echo "results_doc: ok"
