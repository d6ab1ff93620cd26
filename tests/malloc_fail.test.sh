#!/usr/bin/env bash
# ctest-labels: slow;stress
# Every allocation of a process can fail, not only the counted ones
# (alloc_fail.test.sh): an LD_PRELOAD allocator (tests/failmalloc) fails the
# N-th malloc/calloc/realloc of `effbench run` -- effbench's own, SQLite's,
# libyaml's, OpenMP's, oneDNN's -- for N spread over a whole small run, on a
# database that already holds a done run. Each attempt must end cleanly:
# exit 0 or 1 (never a signal), a message when it fails, the database intact
# (integrity_check ok, the earlier run still done with all its evals), a run
# the allocation failure ended recorded as `oom`, never `failed`, and exit 0
# only with the run's result stored.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
lib=${EB_BUILD:-.}/test-plugins/eb_failmalloc.so
[[ -f $lib ]] || { echo "malloc_fail: $lib not built (sanitizer build?): skipped"; exit 77; }
command -v sqlite3 >/dev/null || { echo "malloc_fail: sqlite3 CLI missing (skipped)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

suite() { # name, seed (a run's key is its configuration: another seed, another run)
  cat <<YAML
suite: $1
seeds: [$2]
model: {dim: 16, depth: 1, heads: 2, ffn: 24, dropout: 0.0}
train: {steps: 6, batch: 8, lr: 2e-3, warmup: 2, eval_every: 3}
tasks:
  - majority: {len: 24, train: 64, val: 16, test: 16}
archs:
  - vanilla
speed: {lengths: [32], batch: 2, modes: [infer]}
YAML
}
suite first 0 >"$tmp/first.yaml"
suite second 1 >"$tmp/second.yaml"
"$eb" run "$tmp/first.yaml" --db "$tmp/base.db" >"$tmp/base.log" 2>&1 ||
  { cat "$tmp/base.log"; echo "malloc_fail: the first suite failed" >&2; exit 1; }
sqlite3 "$tmp/base.db" "pragma wal_checkpoint(TRUNCATE)" >/dev/null
evals=$(sqlite3 "$tmp/base.db" "select count(*) from evals")

# one attempt: FAIL_AT=n with the environment given; checks as above
attempt() { # n, then env assignments
  local n=$1
  shift
  rm -f "$tmp"/t.db*
  cp "$tmp/base.db" "$tmp/t.db"
  timeout 120 env "$@" FAIL_AT="$n" LD_PRELOAD="$lib" "$eb" run "$tmp/second.yaml" \
    --db "$tmp/t.db" >"$tmp/out.log" 2>"$tmp/err.log"
  local rc=$?
  tried=$((tried + 1))
  case $rc in
  0) ;;
  1) [[ -s $tmp/err.log ]] || fail "N=$n: exit 1 without a message" ;;
  *) fail "N=$n $*: exit $rc: $(tail -3 "$tmp/err.log")"; return ;;
  esac
  q() { sqlite3 "$tmp/t.db" "$1" 2>&1; }
  [[ $(q "pragma integrity_check") == ok ]] || fail "N=$n: integrity_check: $(q "pragma integrity_check")"
  [[ $(q "select count(*) from runs r join suites s on s.id = r.suite_id where s.name = 'first' and r.status = 'done'") == 1 ]] ||
    fail "N=$n: the earlier run is no longer done: $(q "select run_key, status from runs")"
  [[ $(q "select count(*) from evals e join runs r on r.id = e.run_id join suites s on s.id = r.suite_id where s.name = 'first'") == "$evals" ]] ||
    fail "N=$n: the earlier run's evals changed"
  local st
  st=$(q "select r.status || ': ' || coalesce(r.error, '') from runs r join suites s on s.id = r.suite_id where s.name = 'second'")
  # exit 0: the run has its result (done, or oom); exit 1 may also leave it
  # not reached or `running` under this dead process (the next run takes it)
  case $rc:$st in
  0:"done: " | 0:oom:* | 1:"" | 1:"done: " | 1:"running: "* | 1:oom:*) ;;
  *) fail "N=$n: exit $rc with the run '$st'" ;;
  esac
  # an unbound parameter (SQLite's copy of it failed) must not read as NULL
  ! grep -q "rejected by the schema\|taken over" "$tmp/err.log" ||
    fail "N=$n: $(grep -h "rejected by the schema\|taken over" "$tmp/err.log")"
  [[ $st == oom:* ]] && ooms=$((ooms + 1))
  [[ $rc == 1 ]] && errors=$((errors + 1))
}

count() { # env assignments: prints the allocations of one run
  rm -f "$tmp"/t.db*
  cp "$tmp/base.db" "$tmp/t.db"
  env "$@" FAIL_COUNT="$tmp/count" LD_PRELOAD="$lib" "$eb" run "$tmp/second.yaml" \
    --db "$tmp/t.db" >/dev/null 2>&1 || { echo 0; return; }
  cat "$tmp/count"
}

tried=0 ooms=0 errors=0
# The allocations before main -- the libraries' own start-up, among them
# oneDNN's C++ static constructors, whose failure libstdc++ turns into an
# abort no C program can catch -- are left out: as many as `effbench
# --version` makes in all.
FAIL_COUNT="$tmp/count" LD_PRELOAD="$lib" "$eb" --version >/dev/null 2>&1
start=$(cat "$tmp/count")
# The whole run with OpenBLAS (no oneDNN start-up): 150 points spread evenly,
# offset so that successive runs of the test do not always pick the same ones
total=$(count EFFBENCH_GEMM=openblas)
((total > start + 1000)) || { fail "a run made only $total allocations (the preload did not count)"; total=0; }
step=$((total > start ? (total - start) / 150 + 1 : 1))
off=$((RANDOM % step))
for ((n = start + 1 + off; n <= total; n += step)); do attempt "$n" EFFBENCH_GEMM=openblas; done
# With oneDNN where it is used: its start-up builds kernels in C++, and an
# allocation failing there must still end in a message and exit 1
all=$(count EFFBENCH_GEMM=auto)
if ((all > total + 1000)); then
  for frac in 1 5 20 50 80; do attempt $((all * frac / 100 + 1)) EFFBENCH_GEMM=auto; done
fi
echo "malloc_fail: $tried attempts over allocations $((start + 1))..$total (OpenBLAS) and of $all (auto): $errors clean errors, $ooms runs recorded oom"
((tried >= 100)) || fail "only $tried attempts"
((ooms >= 1)) || fail "no attempt ended a run as oom"
if ((fails)); then
  echo "malloc_fail: $fails check(s) failed" >&2
  exit 1
fi
echo "malloc_fail: ok"
