#!/usr/bin/env bash
# ctest-labels: e2e
# The one-file HTML report without a browser: every result table, the
# provenance and runs tables and every figure (inline SVG, well-formed XML)
# are there in the numbers the database implies; the suite YAML verbatim; the
# commit and CPU of the runs; nothing fetched (no script, no external src or
# href), the temporary figure directory removed; without gnuplot the page says
# so and report warns but succeeds. The checker itself is shown to fail on a
# broken figure, a script and an image without src.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 (the CLI) not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not installed"; exit 77; }
. "$src/tests/report_html_common.sh"

[[ ! -s "$tmp/report.err" ]] || fail "warnings with gnuplot: $(cat "$tmp/report.err")"
[[ -z "$(ls -A "$tmp/tmpdir")" ]] || fail "temporary files left: $(ls -A "$tmp/tmpdir")"
python3 "$check_py" "$tmp/report.html" --tables "$n_tables" --svgs "$n_svgs" \
  --runs "$n_runs" --yaml "$src/tests/suites/tiny.yaml" --contains "$commit" \
  --contains "$cpu" --contains "generated, seed 0" || fail "report.html (above)"

# the checker fails on what it must catch
bad="$tmp/bad.html"
sed '0,/<\/g>/s/<\/g>//' "$tmp/report.html" >"$bad"
python3 "$check_py" "$bad" --tables "$n_tables" --svgs "$n_svgs" >/dev/null &&
  fail "checker passed a figure that is not well-formed"
sed 's|</body>|<script src="https://example.org/x.js"></script></body>|' \
  "$tmp/report.html" >"$bad"
python3 "$check_py" "$bad" --tables "$n_tables" --svgs "$n_svgs" >/dev/null &&
  fail "checker passed a script"
sed 's|</body>|<img src="" alt="x"></body>|' "$tmp/report.html" >"$bad"
python3 "$check_py" "$bad" --tables "$n_tables" --svgs "$n_svgs" >/dev/null &&
  fail "checker passed an image without src"
python3 "$check_py" "$tmp/report.html" --tables $((n_tables + 1)) --svgs "$n_svgs" \
  >/dev/null && fail "checker passed a missing table"

# without gnuplot: a note in place of the figures, a warning, exit 0
out=$(EFFBENCH_GNUPLOT=/nonexistent/gnuplot "$eb" report --db "$db" --format html \
  -o "$tmp/nognu.html" 2>&1) || fail "report without gnuplot failed: $out"
[[ "$out" == *"effbench report: warning: figures left out: gnuplot not found"* ]] ||
  fail "no warning without gnuplot: $out"
grep -q '<p class="empty">No figures: gnuplot not found' "$tmp/nognu.html" ||
  fail "the page does not say gnuplot is missing"
python3 "$check_py" "$tmp/nognu.html" --tables "$n_tables" --svgs 0 ||
  fail "report without gnuplot (above)"

# statistics: n in accuracy cells (2 seeds per sweep variant), --spread sem, the CSV sem column
"$eb" report --db "$db" --table accuracy | grep -q '± [0-9.]* (n=2)\**  *|' ||
  fail "accuracy cell without n: $("$eb" report --db "$db" --table accuracy)"
"$eb" report --db "$db" --table accuracy --spread sem | grep -q 'standard error' ||
  fail "--spread sem"
"$eb" report --db "$db" --format csv | head -1 | grep -q ',data_source,sem' ||
  fail "CSV sem column"

# bad options: exit 2 naming the choices
out=$("$eb" report --db "$db" --format pdf 2>&1)
[[ $? -eq 2 && "$out" == *"md, latex, csv, json or html"* ]] || fail "--format pdf: $out"
out=$("$eb" report --db "$db" --spread var 2>&1)
[[ $? -eq 2 && "$out" == *"expected std or sem"* ]] || fail "--spread var: $out"

[[ $fails -eq 0 ]] || { echo "$fails check(s) failed"; exit 1; }
echo "report_html_file: ok ($n_tables tables, $n_svgs figures, $n_runs runs)"
