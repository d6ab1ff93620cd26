#!/usr/bin/env bash
# ctest-labels: e2e
# `effbench compare` from the command line: two databases made by a real
# `effbench bench --db`, then given rows by SQL: a known speed regression and
# a known accuracy regression are flagged and --fail-on-regression exits 1;
# a difference within the noise is not; every format; bad input exits 2.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# a real speed row: schema, statistics (n, mean, std) and backend as written
"$eb" bench --arch vanilla --dim 16 --depth 1 --heads 2 --ffn 32 --len 16 --batch 2 \
  --min-time 0.05 --min-reps 3 --no-peak --db "$tmp/base.db" >"$tmp/bench" 2>&1 ||
  fail "bench --db: $(cat "$tmp/bench")"
[[ $(sqlite3 "$tmp/base.db" "select count(*) from speed where step_ms_n >= 3 and
      step_ms_std >= 0 and step_ms_mean > 0 and gemm_backend like '%:%'") -eq 1 ]] ||
  fail "bench row lacks its statistics: $(sqlite3 "$tmp/base.db" 'select * from speed')"
cp "$tmp/base.db" "$tmp/new.db"
# identical databases: nothing flagged, exit 0 even with --fail-on-regression
out=$("$eb" compare "$tmp/base.db" "$tmp/new.db" --fail-on-regression 2>&1) ||
  fail "self-compare exit $?: $out"
[[ "$out" == *"0 regressions"* ]] || fail "self-compare: $out"

# rows by SQL: speed 10 -> 13 ms (std 0.5 over 40 steps): a regression;
# 20 -> 20.4 ms (std 4 over 8): within noise; accuracy 3 seeds 0.80 -> 0.70
sql() { sqlite3 "$1" "$2" || fail "sql on $1"; }
for side in base new; do
  slow=10 acc=0.80
  [[ $side == new ]] && slow=13 acc=0.70
  noisy=20
  [[ $side == new ]] && noisy=20.4
  sql "$tmp/$side.db" "insert into suites(name, created_at) values('s', '2025-01-01T00:00:00Z');
    insert into speed(suite_id, arch, task, seq_len, batch, mode, threads, step_ms_median,
      step_ms_n, step_ms_mean, step_ms_std, peak_mem_bytes, status, measured_at)
    values((select id from suites where name='s'), 'vanilla', '', 512, 8, 'train', 1,
      $slow, 40, $slow, 0.5, 1000, 'done', '2025-01-01T00:00:00Z'),
     ((select id from suites where name='s'), 'vanilla', '', 1024, 8, 'train', 1,
      $noisy, 8, $noisy, 4, 2000, 'done', '2025-01-01T00:00:00Z');"
  for seed in 0 1 2; do
    a=$(awk -v a=$acc -v s=$seed 'BEGIN { print a + (s - 1) * 0.01 }')
    sql "$tmp/$side.db" "insert into runs(suite_id, run_key, arch, task, seed, config_json,
      status, test_accuracy, started_at) values((select id from suites where name='s'),
      'k$seed', 'vanilla', 'text', $seed, '{\"arch_params\":{}}', 'done', $a,
      '2025-01-01T00:00:00Z');"
  done
done
out=$("$eb" compare "$tmp/base.db" "$tmp/new.db" --suite s 2>&1) ||
  fail "compare without --fail-on-regression exit $?: $out"
grep -qE '^\| vanilla \|  \| 512 \| train \| 10 ± 0.5 \| 40 \| 13 ± 0.5 \| 40 \| 1.300 \| .* \| \*\*regression\*\* \|$' <<<"$out" ||
  fail "speed regression not flagged: $out"
grep -qE '^\| vanilla \|  \| 1024 \| train \| .* \| within noise \|$' <<<"$out" ||
  fail "noise flagged: $out"
grep -qE '^\| vanilla \|  \| text \| 80.00 ± 1.00 \| 3 \| 70.00 ± 1.00 \| 3 \| 0.875 \| .* \| \*\*regression\*\* \|$' <<<"$out" ||
  fail "accuracy regression not flagged: $out"
[[ "$out" == *"2 regressions"* ]] || fail "count: $out"
"$eb" compare "$tmp/base.db" "$tmp/new.db" --suite s --fail-on-regression >/dev/null 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 && "$(cat "$tmp/err")" == "effbench compare: 2 regressions flagged" ]] ||
  fail "--fail-on-regression: exit $rc: $(cat "$tmp/err")"
# json parses, csv has its header and one line per row
"$eb" compare "$tmp/base.db" "$tmp/new.db" --suite s --format json >"$tmp/j" ||
  fail "json exit $?"
python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
assert d['regressions'] == 2, d
flagged = sorted((r['table'], r.get('seq_len')) for r in d['rows'] if r['regression'])
assert flagged == [('accuracy', None), ('speed', 512)], flagged
" "$tmp/j" || fail "json: $(cat "$tmp/j")"
"$eb" compare "$tmp/base.db" "$tmp/new.db" --suite s --format csv -o "$tmp/c" ||
  fail "csv exit $?"
[[ $(head -n 1 "$tmp/c") == table,arch,variant,task,seq_len,mode,base_n,* &&
  $(wc -l <"$tmp/c") -eq 6 ]] || fail "csv: $(cat "$tmp/c")"
# the threshold is an option: with --min-change 0.5 a 30% slowdown is not flagged
out=$("$eb" compare "$tmp/base.db" "$tmp/new.db" --suite s --min-change 0.5 2>&1)
[[ "$out" == *"0 regressions"* ]] || fail "--min-change 0.5: $out"

# bad input: exit 2 and a message naming the problem
for c in "$tmp/none.db $tmp/new.db|no database at $tmp/none.db" \
  "$tmp/base.db|give two databases" \
  "$tmp/base.db $tmp/new.db --format xml|--format xml" \
  "$tmp/base.db $tmp/new.db --suite nope|suite 'nope'" \
  "$tmp/base.db $tmp/new.db --alpha 2|--alpha 2"; do
  args=${c%%|*} want=${c#*|}
  # shellcheck disable=SC2086
  out=$("$eb" compare $args 2>&1)
  rc=$?
  [[ $rc -eq 2 && "$out" == *"$want"* ]] || fail "compare $args: exit $rc: $out"
done
echo "/etc/hostname" >"$tmp/notdb.db"
out=$("$eb" compare "$tmp/notdb.db" "$tmp/new.db" 2>&1)
[[ $? -eq 2 && "$out" == *"not an SQLite database"* ]] || fail "not a database: $out"

((fails == 0)) && echo "compare: ok"
exit $((fails > 0))
