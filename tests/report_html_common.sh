# Sourced by tests/report_html_file.test.sh and tests/report_html.test.sh:
# builds a small database with the tiny suite (seconds), writes its HTML
# report to $tmp/report.html, and sets what the database implies the page
# must hold: n_tables (the result tables, as counted in the Markdown report:
# accuracy, speed, MoE and the scaling fit of its 4 budgets,
# plus the provenance and runs tables), n_svgs (the figures `effbench plot
# --format svg` draws), n_runs, commit, cpu. Needs eb, src, tmp, fail.
db="$tmp/r.db"
"$eb" run "$src/tests/suites/tiny.yaml" --db "$db" --threads 1 >"$tmp/run.log" 2>&1 ||
  { echo "FAIL: tiny suite: $(cat "$tmp/run.log")" >&2; exit 1; }
mkdir -p "$tmp/tmpdir"
TMPDIR="$tmp/tmpdir" "$eb" report --db "$db" --format html -o "$tmp/report.html" \
  2>"$tmp/report.err" || fail "report --format html: $(cat "$tmp/report.err")"
n_result=$("$eb" report --db "$db" --format md | grep -c '^|---')
n_tables=$((n_result + 2))
"$eb" plot --db "$db" --format svg --out "$tmp/figs" >/dev/null 2>&1 ||
  fail "plot --format svg"
n_svgs=$(find "$tmp/figs" -name '*.svg' | wc -l)
n_runs=$(sqlite3 "$db" "SELECT count(*) FROM runs")
commit=$(sqlite3 "$db" "SELECT git_commit FROM runs LIMIT 1")
cpu=$(sqlite3 "$db" "SELECT cpu_model FROM runs LIMIT 1")
[[ $n_result -eq 4 && $n_svgs -ge 4 && $n_runs -eq 4 && -n $commit ]] ||
  fail "tiny database: $n_result tables, $n_svgs figures, $n_runs runs, commit '$commit'"
check_py="$src/tests/report_html_check.py"
