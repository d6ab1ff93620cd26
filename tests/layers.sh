#!/usr/bin/env bash
# The layering of docs/engine.md ("Layers"), checked against the build: for
# each layer's library, a header it may include compiles with that target's
# include directories alone, and a header of a layer it must not reach (or a
# private header of another layer) is not found. Also, no layer source
# includes by a relative path ("../x.h"), which would get around the include
# directories, and results/ uses of include/ only effbench/rc.h.
#   env: CC, EB_SRC, EB_INC_<layer> (a target's include directories, ':'-separated)
# Run by ctest as `layers` (tests/tests.cmake).
set -u
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# compiles `#include "$2"` with layer $1's include directories; 0 when it does
probe() {
  local var="EB_INC_$1" flags=() d
  IFS=: read -r -a dirs <<<"${!var}"
  for d in "${dirs[@]}"; do [ -n "$d" ] && flags+=(-I"$d"); done
  printf '#include "%s"\nint eb_probe;\n' "$2" >"$tmp/probe.c"
  "$CC" -std=c11 -D_POSIX_C_SOURCE=200809L -fsyntax-only "${flags[@]}" "$tmp/probe.c" \
    >"$tmp/out" 2>&1
}

allow() { # layer header...
  local layer=$1 h
  shift
  for h in "$@"; do
    if ! probe "$layer" "$h"; then
      echo "FAIL: $layer cannot include $h, which it may:"
      sed 's/^/  /' "$tmp/out"
      fail=1
    fi
  done
}

deny() { # layer header...
  local layer=$1 h
  shift
  for h in "$@"; do
    if probe "$layer" "$h"; then
      echo "FAIL: $layer can include $h, which it must not reach"
      fail=1
    elif ! grep -q "$h: No such file" "$tmp/out"; then
      echo "FAIL: probing $h for $layer failed for another reason:"
      sed 's/^/  /' "$tmp/out"
      fail=1
    fi
  done
}

core_private="internal.h ops_util.h ops_attention_kern.h"
util="strbuf.h hash.h json.h"
allow util $util
deny util effbench/core.h effbench/rc.h dataset.h store.h registry.h model.h version.h
deny core $util
deny archs $util
deny model $util
allow tasks $util
allow results $util
allow harness $util
allow core effbench/core.h effbench/plugin.h optim.h gemm.h
deny core dataset.h store.h registry.h model.h version.h
allow archs effbench/plugin.h effbench/core.h
deny archs $core_private optim.h gemm.h args.h dataset.h bytes.h store.h registry.h \
  model.h version.h
allow tasks effbench/plugin.h effbench/rng.h dataset.h source.h tmpname.h
deny tasks $core_private optim.h gemm.h args.h block_util.h store.h registry.h model.h
allow model effbench/plugin.h model.h
deny model $core_private optim.h gemm.h block_util.h dataset.h bytes.h store.h \
  registry.h train.h
allow results store.h report.h plot.h version.h effbench/rc.h
deny results $core_private optim.h gemm.h args.h dataset.h bytes.h model.h registry.h \
  block_util.h
allow harness effbench/plugin.h optim.h gemm.h args.h model.h dataset.h source.h \
  tmpname.h store.h report.h plot.h version.h
deny harness $core_private block_util.h prenorm_flops.h bytes.h lines.h carve.h words.h \
  pathfinder.h \
  store_internal.h sources.h report_html.h

# relative includes in the layers' sources
rel=$(cd "$EB_SRC" && grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*\.\./' \
  util core archs tasks results harness model version --include='*.c' --include='*.h' \
  --exclude-dir=plugins)
if [ -n "$rel" ]; then
  echo "FAIL: relative includes get around the layers' include directories:"
  echo "$rel" | sed 's/^/  /'
  fail=1
fi
# results/ knows nothing of the engine or the plugin ABI: of include/, rc.h only
abi=$(cd "$EB_SRC" && grep -rnE '#[[:space:]]*include[[:space:]]*"effbench/' results |
  grep -v '"effbench/rc.h"')
if [ -n "$abi" ]; then
  echo "FAIL: results/ includes more of include/ than effbench/rc.h:"
  echo "$abi" | sed 's/^/  /'
  fail=1
fi

[ $fail = 0 ] && echo "layers: every layer reaches what docs/engine.md allows, nothing else"
exit $fail
