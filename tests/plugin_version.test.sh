#!/usr/bin/env bash
# ctest-labels: e2e
# The core API version as a plugin author meets it (docs/plugins.md,
# "Versioning"): --version names the plugin ABI and the core API version of
# the headers; a plugin compiled against a copy of the headers loads, and the
# same source compiled against that copy with EB_CORE_API_MINOR or
# EB_CORE_API_MAJOR bumped (what an author gets from a newer effbench's
# headers), or recording the generation-1 ABI (no core API version), is
# refused with exit status 2, like other plugin refusals, naming the file,
# both versions and the fix. Exit 77 without a C compiler.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
build=${EB_BUILD:?EB_BUILD must point at the build tree}
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ -z $cc ]] || ! command -v "$cc" >/dev/null; then
  echo "SKIPPED: no C compiler"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() {
  echo "FAIL: $*" >&2
  fails=$((fails + 1))
}

define() { sed -n "s/^#define $1 \\([0-9]*\\)\$/\\1/p" "$src/include/effbench/$2"; }
major=$(define EB_CORE_API_MAJOR core.h)
minor=$(define EB_CORE_API_MINOR core.h)
gen=$(define EB_PLUGIN_ABI plugin.h)
[[ -n $major && -n $minor && -n $gen ]] || fail "version macros not found in the headers"

ver=$("$eb" --version)
[[ $ver == *"plugin ABI $gen, core API $major.$minor)" ]] || fail "--version: $ver"

# tokenmlp (tests/plugins) compiled against a copy of the headers, edited by
# the sed expression $2 (none: as they are), into $tmp/$1.so
build_plugin() {
  mkdir -p "$tmp/$1/effbench"
  cp "$src/include/effbench/"*.h "$tmp/$1/effbench/"
  [[ -z $2 ]] || sed -i "$2" "$tmp/$1/effbench/core.h"
  "$cc" -std=c11 -O1 -shared -fPIC -I"$tmp/$1" -DTOKENMLP_NAME="\"tok_$1\"" \
    "$src/tests/plugins/tokenmlp.c" -o "$tmp/$1.so" -lm 2>"$tmp/$1.log" ||
    fail "compiling tokenmlp against the $1 headers: $(cat "$tmp/$1.log")"
}

build_plugin same ""
out=$("$eb" --plugin "$tmp/same.so" list archs 2>&1) || fail "same headers refused: $out"
grep -q "^tok_same " <<<"$out" || fail "tok_same not listed: $out"

build_plugin minor "s/^#define EB_CORE_API_MINOR $minor\$/#define EB_CORE_API_MINOR $((minor + 1))/"
build_plugin major "s/^#define EB_CORE_API_MAJOR $major\$/#define EB_CORE_API_MAJOR $((major + 1))/"
refused() { # NAME SO WANT...: refused with status 2 and every WANT in the message
  local name=$1 so=$2
  shift 2
  out=$("$eb" --plugin "$so" list archs 2>&1)
  rc=$?
  [[ $rc -eq 2 ]] || fail "$name: exit $rc (want 2): $out"
  for w in "$so" "core API $major.$minor" "rebuild the plugin against the installed headers" "$@"; do
    [[ $out == *"$w"* ]] || fail "$name: message lacks '$w': $out"
  done
}
refused "newer minor" "$tmp/minor.so" "core API $major.$((minor + 1))" "newer than"
refused "other major" "$tmp/major.so" "core API $((major + 1)).$minor" "another major"
refused "generation 1" "$build/test-plugins/eb_test_plugin_abi1/eb_test_plugin_abi1.so" \
  "plugin ABI 1," "records no core API version"

# the same exit status as another plugin refusal (a file that is no plugin)
"$eb" --plugin "$tmp/nothere.so" list archs >/dev/null 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "a missing plugin exits $rc, the version refusals 2"

if [[ $fails -ne 0 ]]; then
  echo "plugin_version: $fails failure(s)" >&2
  exit 1
fi
echo "plugin_version: ok (plugin ABI $gen, core API $major.$minor)"
