#!/usr/bin/env bash
# ctest-labels: e2e
# The example third-party plugin (archs/plugins/linear_attention) as a user
# builds it: install this build into a temporary prefix, configure and build
# the example out of tree against the installed headers and pkg-config file,
# then load it with --plugin and EFFBENCH_PLUGIN_PATH, run its own checks
# (formula, padding, finite-difference gradients, FLOPs) and `effbench check`, train it to well
# above chance and export it. Exit 77 when cmake or pkg-config is missing.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
build=${EB_BUILD:?EB_BUILD must point at the build tree}
for tool in cmake pkg-config; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool not found"
    exit 77
  fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# the compiler of this build (a plugin is normally built with the system's)
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")

if ! cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  echo "FAIL: cmake --install" >&2
  exit 1
fi
for f in bin/effbench include/effbench/core.h include/effbench/plugin.h \
  lib/pkgconfig/effbench.pc; do
  [[ -f $tmp/prefix/$f ]] || fail "not installed: $f"
done

# configure and build out of tree, against the installed prefix only
export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
if ! cmake -S "$src/archs/plugins/linear_attention" -B "$tmp/la" \
  ${cc:+-DCMAKE_C_COMPILER="$cc"} -DLINEAR_ATTENTION_CHECK=ON >"$tmp/cfg.log" 2>&1 ||
  ! cmake --build "$tmp/la" >"$tmp/build.log" 2>&1; then
  cat "$tmp/cfg.log" "$tmp/build.log" >&2 2>/dev/null
  echo "FAIL: building the example plugin" >&2
  exit 1
fi
so=$tmp/la/linear_attention.so
[[ -f $so ]] || fail "no $so (MODULE without the lib prefix)"
grep -q "^EFFBENCH_INCLUDE_DIRS:INTERNAL=$tmp/prefix/" "$tmp/la/CMakeCache.txt" ||
  fail "pkg-config did not point the example at the installed headers"

# the installed binary and the build's binary both load it
for bin in "$eb" "$tmp/prefix/bin/effbench"; do
  out=$("$bin" --plugin "$so" list archs 2>&1) || fail "$bin --plugin list archs: $out"
  grep -qE "^linear_attention .*Katharopoulos.*\[plugin .*linear_attention.so\]" <<<"$out" ||
    fail "--plugin: linear_attention not listed: $out"
  grep -q "eps: float = 1e-6" <<<"$out" || fail "declared parameter eps not listed: $out"
done
out=$(EFFBENCH_PLUGIN_PATH="$tmp/missing:$tmp/la" "$eb" list archs 2>&1) ||
  fail "EFFBENCH_PLUGIN_PATH list archs: $out"
grep -q "^linear_attention " <<<"$out" || fail "EFFBENCH_PLUGIN_PATH: not listed: $out"

# the plugin's own checks run inside effbench (they need the host's core API)
out=$("$eb" --plugin "$tmp/la/check/linear_attention_check.so" list archs 2>&1 >/dev/null)
rc=$?
[[ $rc -eq 0 ]] || fail "plugin checks failed (exit $rc): $out"
grep -q "linear_attention check: ok" <<<"$out" || fail "plugin checks: $out"

# effbench check: gradients, FLOPs, parameters, determinism, padding
for args in "" "--pool cls --dropout 0.1" "--pair --len 12"; do
  # shellcheck disable=SC2086
  out=$("$eb" --plugin "$so" check --arch linear_attention $args 2>&1)
  rc=$?
  [[ $rc -eq 0 ]] || fail "effbench check $args: exit $rc: $out"
  for row in gradients flops "gemm flops" parameters determinism padding; do
    grep -qE "^$row +ok " <<<"$out" || fail "effbench check $args: no '$row ok': $out"
  done
done

# bad parameter values are refused by validate()
out=$("$eb" --plugin "$so" train --arch linear_attention --dim 30 --heads 4 --steps 1 2>&1)
[[ $? -eq 2 ]] && grep -q "heads (4) must divide dim (30)" <<<"$out" ||
  fail "heads not dividing dim: $out"
out=$("$eb" --plugin "$so" train --arch linear_attention --param eps=0 --steps 1 2>&1)
[[ $? -eq 2 ]] && grep -q "eps must be a positive number" <<<"$out" || fail "eps=0: $out"

# it learns: majority over 4 classes, chance 0.25
out=$("$eb" --plugin "$so" train --arch linear_attention --task majority --steps 60 \
  --dim 32 --heads 4 --ffn 64 --batch 16 --lr 2e-3 --eval-every 30 --json 2>&1) ||
  fail "train: $out"
acc=$(sed -n 's/.*"test_accuracy":\([0-9.eE+-]*\).*/\1/p' <<<"$out")
awk -v a="${acc:-0}" 'BEGIN { exit !(a > 0.5) }' ||
  fail "test accuracy ${acc:-none} not above 0.5: $out"
grep -q '"arch":"linear_attention".*"status":"done"' <<<"$out" || fail "train json: $out"

# export with a batch (parameters, batch, logits, loss, gradients)
out=$("$eb" --plugin "$so" export --arch linear_attention --with-batch \
  --out "$tmp/la.safetensors" 2>&1) || fail "export: $out"
for name in blocks.1.attn.wqkv grad.blocks.1.attn.wqkv out.logits out.loss batch.mask; do
  grep -qa "\"$name\"" "$tmp/la.safetensors" || fail "export lacks $name"
done

# without the plugin the arch is unknown, with a clear message saying how to
# load one; with another plugin loaded, the message names it
out=$(EFFBENCH_PLUGIN_PATH= "$eb" train --arch linear_attention --steps 1 2>&1)
[[ $? -eq 2 ]] && grep -q "unknown arch 'linear_attention'" <<<"$out" &&
  grep -q -- "--plugin FILE.so or from the directories in EFFBENCH_PLUGIN_PATH" <<<"$out" ||
  fail "arch without plugin: $out"
out=$("$eb" --plugin "$so" train --arch linear_attn --steps 1 2>&1)
[[ $? -eq 2 ]] && grep -q "loaded: $so" <<<"$out" || fail "unknown arch with a plugin: $out"

[[ $fails -eq 0 ]] || {
  echo "$fails failure(s)" >&2
  exit 1
}
echo "plugin_example: ok"
