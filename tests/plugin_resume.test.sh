#!/usr/bin/env bash
# ctest-labels: e2e
# Code-aware resume (docs/plugins.md, "Iterating on a plugin"): a suite with
# the example plugin and a built-in is run; the plugin rebuilt unchanged (the
# same .so bytes) resumes as before; rebuilt with a change, `run` stops before
# training anything (exit 2) naming the run and both checksums;
# --keep-changed keeps the old result, --rerun-changed re-trains that run only.
# Also: each run records its arch's SHA-256 (the .so's; a built-in's sources)
# and the executable's, run keys are those of effbench before this existed, a
# row without a checksum counts as unchanged, and a built-in whose recorded
# digest differs stops the suite too. Exit 77 when cmake, pkg-config or
# sqlite3 is missing.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
build=${EB_BUILD:?EB_BUILD must point at the build tree}
for tool in cmake pkg-config sqlite3 sha256sum; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool not found"
    exit 77
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE="$tmp/cache"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
q() { sqlite3 "$tmp/r.db" "$1"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- the example plugin, built out of tree from a copy of its source
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
if ! cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  echo "FAIL: cmake --install" >&2
  exit 1
fi
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
cp -r "$src/archs/plugins/linear_attention" "$tmp/src"
build_plugin() {
  cmake -S "$tmp/src" -B "$tmp/la" ${cc:+-DCMAKE_C_COMPILER="$cc"} >"$tmp/cfg.log" 2>&1 &&
    cmake --build "$tmp/la" "$@" >"$tmp/build.log" 2>&1 || {
    cat "$tmp/cfg.log" "$tmp/build.log" >&2
    echo "FAIL: building the plugin" >&2
    exit 1
  }
}
build_plugin
so=$tmp/la/linear_attention.so
sha1=$(sha "$so")
cp "$so" "$tmp/first.so"

cat >"$tmp/suite.yaml" <<'EOF'
suite: plugin-resume
seeds: [0]
model: {dim: 16, depth: 1, heads: 2, ffn: 32, dropout: 0.0}
train: {steps: 20, batch: 8, lr: 2e-3, warmup: 5, eval_every: 10, time_budget: 2m}
tasks:
  - majority: {len: 24, train: 256, val: 64, test: 64}
archs:
  - linear_attention
  - vanilla
EOF
run() { "$eb" --plugin "$so" run "$tmp/suite.yaml" --db "$tmp/r.db" "$@" 2>&1; }
la="select %s from runs where arch='linear_attention'"
col() { q "$(printf "$la" "$1")"; }
van() { q "select $1 from runs where arch='vanilla'"; }
curve() { q "select group_concat(loss || ':' || accuracy, ' ') from (select e.loss, e.accuracy
             from evals e join runs r on r.id = e.run_id where r.arch = '$1'
             order by e.step, e.split)"; }

# --- first run: both trained, their code recorded, keys as before
out=$(run) || fail "first run: $out"
grep -q "2 done now" <<<"$out" || fail "first run summary: $out"
# the keys effbench computed for this suite before runs recorded any code
# (commit d3551df): recording code changes no run key
[[ "$(q "select group_concat(run_key, ' ') from (select run_key from runs order by arch)")" == \
  "3edbe18b4889d899ba918557b734de33 766bc761d7a20cd6b88d4b487c534d68" ]] ||
  fail "run keys changed: $(q 'select arch, run_key from runs')"
[[ "$(col arch_sha256)" == "$sha1" ]] ||
  fail "plugin run's arch_sha256 $(col arch_sha256), the .so's is $sha1"
# a built-in's digest: its source file then the archs/ headers it includes,
# by name (scripts/arch-code.cmake)
hdrs=$(sed -n 's/^#include "\([A-Za-z0-9_]*\.h\)".*/\1/p' "$src/archs/vanilla.c" | sort -u |
  while read -r h; do [[ -f $src/archs/$h ]] && echo "$src/archs/$h"; done)
# shellcheck disable=SC2086
want=$(cat "$src/archs/vanilla.c" $hdrs | sha256sum | cut -d' ' -f1)
[[ "$(van arch_sha256)" == "$want" ]] || fail "vanilla's arch_sha256 $(van arch_sha256), want $want"
[[ "$(col exe_sha256)" == "$(sha "$eb")" && "$(van exe_sha256)" == "$(sha "$eb")" ]] ||
  fail "exe_sha256 $(col exe_sha256) is not the executable's $(sha "$eb")"
la_done=$(col finished_at) van_done=$(van finished_at) la_curve=$(curve linear_attention)

# --- an unchanged rebuild gives the same bytes: resumes as before
sleep 1
build_plugin --clean-first
cmp -s "$so" "$tmp/first.so" || fail "an unchanged rebuild gave another .so"
out=$(run) || fail "resume after an unchanged rebuild: exit $?: $out"
grep -q "2 already done, 0 done now" <<<"$out" || fail "unchanged rebuild reran: $out"
grep -q "other code" <<<"$out" && fail "unchanged rebuild reported changed code: $out"

# --- a changed plugin: eps grows by 1 (other outputs, other losses)
sed -i 's/m->eps = (float)eb_args_float(args, "eps", 1e-6);/m->eps = 1.0f + (float)eb_args_float(args, "eps", 1e-6);/' \
  "$tmp/src/linear_attention.c"
grep -q "m->eps = 1.0f +" "$tmp/src/linear_attention.c" || fail "the test's source edit did not apply"
build_plugin
sha2=$(sha "$so")
[[ "$sha2" != "$sha1" ]] || fail "the changed plugin has the same checksum"
out=$(run)
rc=$?
[[ $rc -eq 2 ]] || fail "changed plugin: exit $rc, expected 2: $out"
grep -q "linear_attention/majority/seed=0 (key 3edbe18b4889d899ba918557b734de33): linear_attention ($so): was ${sha1:0:16}, now ${sha2:0:16}" <<<"$out" ||
  fail "changed plugin: the run and both checksums not named: $out"
grep -q -- "--rerun-changed" <<<"$out" && grep -q -- "--keep-changed" <<<"$out" ||
  fail "changed plugin: the choices not named: $out"
grep -q "vanilla/" <<<"$out" && fail "changed plugin: vanilla listed as changed: $out"
grep -q " step " <<<"$out" && fail "changed plugin: something trained: $out"
[[ "$(col finished_at)" == "$la_done" && "$(col arch_sha256)" == "$sha1" ]] ||
  fail "changed plugin: the done run was touched"

# --- --keep-changed: nothing trained, the old result and checksum stay
out=$(run --keep-changed) || fail "--keep-changed: exit $?: $out"
grep -q "2 already done, 0 done now" <<<"$out" || fail "--keep-changed summary: $out"
grep -q "keeping the results of 1 done run(s)" <<<"$out" || fail "--keep-changed note: $out"
[[ "$(col finished_at)" == "$la_done" && "$(col arch_sha256)" == "$sha1" ]] ||
  fail "--keep-changed touched the run"

# --- both choices at once: refused
out=$(run --keep-changed --rerun-changed)
[[ $? -eq 2 ]] && grep -q "exclude each other" <<<"$out" || fail "both flags: $out"

# --- --rerun-changed: the plugin's run only, trained again with the new code
out=$(run --rerun-changed) || fail "--rerun-changed: exit $?: $out"
grep -q "1 already done, 1 done now" <<<"$out" || fail "--rerun-changed summary: $out"
[[ "$(col finished_at)" != "$la_done" ]] || fail "--rerun-changed: finished_at unchanged"
[[ "$(col arch_sha256)" == "$sha2" ]] || fail "--rerun-changed: arch_sha256 $(col arch_sha256)"
[[ "$(curve linear_attention)" != "$la_curve" ]] ||
  fail "--rerun-changed: same curve with the changed code: $la_curve"
[[ "$(van finished_at)" == "$van_done" ]] || fail "--rerun-changed re-ran vanilla"
out=$(run) || fail "resume after --rerun-changed: exit $?: $out"
grep -q "2 already done, 0 done now" <<<"$out" || fail "resume after --rerun-changed: $out"

# --- a row without a checksum (an older effbench's) counts as unchanged
q "update runs set arch_sha256 = NULL where arch = 'linear_attention'"
cp "$tmp/first.so" "$so"
out=$(run) || fail "row without a checksum: exit $?: $out"
grep -q "2 already done, 0 done now" <<<"$out" || fail "row without a checksum: $out"

# --- another executable alone re-runs nothing (a note); a built-in whose
# recorded digest differs stops the suite like a plugin
q "update runs set exe_sha256 = 'feed', git_commit = 'abc1234' where arch = 'vanilla'"
out=$(run) || fail "other executable: exit $?: $out"
grep -q "note: 1 done run(s) were trained by another effbench executable (commit abc1234" <<<"$out" ||
  fail "other executable: no note: $out"
q "update runs set arch_sha256 = 'beef' where arch = 'vanilla'"
out=$(run)
[[ $? -eq 2 ]] && grep -q "vanilla/majority/seed=0 .*vanilla (built-in): was beef, now ${want:0:16}" <<<"$out" ||
  fail "changed built-in: $out"
[[ "$(van finished_at)" == "$van_done" ]] || fail "changed built-in: vanilla was touched"

[[ $fails -eq 0 ]] || {
  echo "$fails failure(s)" >&2
  exit 1
}
echo "plugin_resume: ok"
