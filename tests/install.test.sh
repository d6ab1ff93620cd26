#!/usr/bin/env bash
# ctest-labels: e2e
# Packaging (issue 19, deliverable 6): `cmake --install` into a DESTDIR
# installs the binary, headers, effbench.pc, the man page, the LICENSE, the
# suites and the example plugin's source; pkg-config resolves the .pc to
# directories that exist (also for a Debian multiarch libdir, through the same
# scripts/effbench-pc.cmake the install runs); the man page renders without
# warnings and covers every command; --version names the commit of HEAD.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
build=${EB_BUILD:?EB_BUILD must point at the build tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }

# --- LICENSE
grep -q "^MIT License" "$src/LICENSE" && grep -q "Copyright (c) 2026 the effbench authors" \
  "$src/LICENSE" || fail "LICENSE is not MIT 2026 the effbench authors"

# --- cmake --install into DESTDIR, prefix /usr
dest=$tmp/dest
if ! DESTDIR=$dest cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1; then
  cat "$tmp/install.log" >&2
  echo "FAIL: cmake --install" >&2
  exit 1
fi
libdir=$(cache CMAKE_INSTALL_LIBDIR)
incdir=$(cache CMAKE_INSTALL_INCLUDEDIR)
# GNUInstallDirs leaves DATADIR and MANDIR empty in the cache: their defaults
# derive from DATAROOTDIR
dataroot=$(cache CMAKE_INSTALL_DATAROOTDIR)
mandir=$(cache CMAKE_INSTALL_MANDIR)
mandir=${mandir:-$dataroot/man}
datadir=$(cache CMAKE_INSTALL_DATADIR)
datadir=${datadir:-$dataroot}
[[ -n $libdir && -n $incdir && -n $mandir && -n $datadir ]] || fail "GNUInstallDirs not in the cache"
for f in bin/effbench "$incdir/effbench/core.h" "$incdir/effbench/plugin.h" \
  "$libdir/pkgconfig/effbench.pc" "$mandir/man1/effbench.1" "$datadir/doc/effbench/LICENSE" \
  "$datadir/effbench/examples/linear_attention/CMakeLists.txt" \
  "$datadir/effbench/examples/linear_attention/linear_attention.c"; do
  [[ -f $dest/usr/$f ]] || fail "not installed: /usr/$f"
done
for c in "$src"/configs/*.yaml; do
  cmp -s "$c" "$dest/usr/$datadir/effbench/configs/$(basename "$c")" ||
    fail "config not installed: $(basename "$c")"
done
[[ ! -e $dest/usr/$datadir/effbench/examples/linear_attention/.gitignore ]] ||
  fail "the example's .gitignore installed"
"$dest/usr/bin/effbench" --version >/dev/null || fail "the installed binary does not run"

# --- pkg-config: absolute dirs of the install prefix, existing under DESTDIR
pc=$dest/usr/$libdir/pkgconfig/effbench.pc
grep -q "^includedir=/usr/$incdir$" "$pc" || fail "includedir: $(cat "$pc")"
grep -q "^libdir=/usr/$libdir$" "$pc" || fail "libdir: $(cat "$pc")"
flags=$(PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest/usr/$libdir/pkgconfig \
  pkg-config --cflags --libs effbench 2>&1) || fail "pkg-config: $flags"
[[ $flags == *-I* ]] || fail "pkg-config gave no -I: $flags"
for w in $flags; do
  case $w in
  -I* | -L*) [[ -d ${w:2} ]] || fail "pkg-config names a missing dir: $w" ;;
  esac
done
[[ -f $(sed 's/^-I//' <<<"${flags%% *}")/effbench/plugin.h ]] || fail "no plugin.h under $flags"
[[ $(PKG_CONFIG_PATH=$dest/usr/$libdir/pkgconfig pkg-config --modversion effbench) == \
  "$(cache CMAKE_PROJECT_VERSION)" ]] || fail "pkg-config version"

# the same script under a Debian multiarch libdir (what a -DCMAKE_INSTALL_PREFIX=/usr
# build on Debian gets): the .pc lands there and still names /usr/include
ma=$tmp/ma
DESTDIR=$ma cmake -DCMAKE_INSTALL_PREFIX=/usr -DLIBDIR=lib/x86_64-linux-gnu -DINCLUDEDIR=include \
  -DPC_IN="$src/scripts/effbench.pc.in" -DPC_OUT="$tmp/ma.pc" -DPROJECT_VERSION=0.1.0 \
  -P "$src/scripts/effbench-pc.cmake" >"$tmp/ma.log" 2>&1 || fail "multiarch .pc: $(cat "$tmp/ma.log")"
mkdir -p "$ma/usr/include/effbench"
out=$(PKG_CONFIG_SYSROOT_DIR=$ma PKG_CONFIG_PATH=$ma/usr/lib/x86_64-linux-gnu/pkgconfig \
  pkg-config --cflags effbench 2>&1)
read -r out <<<"$out" # pkg-config ends the line with a space
[[ $out == "-I$ma/usr/include" ]] || fail "multiarch pkg-config --cflags: $out (want -I$ma/usr/include)"

# --- the man page: renders without warnings, covers every command
page=$src/docs/effbench.1
if command -v groff >/dev/null; then
  warn=$(groff -man -Tascii -ww -z "$page" 2>&1)
  [[ -z $warn ]] || fail "groff warnings: $warn"
  text=$(groff -man -Tascii "$page" 2>/dev/null | col -b 2>/dev/null || groff -man -Tascii "$page")
  [[ $text == *"EXIT STATUS"* ]] || fail "man page did not render"
else
  echo "note: groff not found, the man page is not rendered"
fi
cmds=$("$eb" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF {print $1}')
[[ $(wc -w <<<"$cmds") -ge 12 ]] || fail "commands from --help: $cmds"
for c in $cmds; do
  grep -q "^\.SS \"$c\b" "$page" || fail "the man page lacks the command $c"
done
for o in --json --attempt --fresh --text --version --fail-on-regression; do
  grep -q -- "${o//-/\\\\-}" "$page" || fail "the man page lacks $o"
done

# --- --version: the version and the commit of HEAD
ver=$("$eb" --version)
[[ $ver == "effbench $(cache CMAKE_PROJECT_VERSION) "* ]] || fail "--version: $ver"
[[ $ver != *dev* ]] || fail "--version says dev: $ver"
if command -v git >/dev/null && head=$(git -C "$src" rev-parse --short HEAD 2>/dev/null); then
  [[ $ver == *"commit $head"* ]] || fail "--version lacks HEAD's commit $head: $ver"
else
  [[ $ver == *"commit unknown"* ]] || fail "--version without git: $ver"
fi
# the commit comes from scripts/version.cmake: "unknown" outside a checkout,
# and rewritten (only) when it changes
plain=$tmp/plain
mkdir -p "$plain"
cmake -DSRC="$plain" -DOUT="$tmp/v.c" -DVERSION=9.9.9 -P "$src/scripts/version.cmake"
grep -q 'return "unknown"' "$tmp/v.c" && grep -q 'return "9.9.9"' "$tmp/v.c" ||
  fail "version.cmake outside a checkout: $(cat "$tmp/v.c")"
if command -v git >/dev/null; then
  repo=$tmp/repo
  git init -q "$repo" && git -C "$repo" -c user.name=t -c user.email=t@t commit -q \
    --allow-empty -m one
  cmake -DSRC="$repo" -DOUT="$tmp/g.c" -DVERSION=1 -P "$src/scripts/version.cmake"
  c1=$(git -C "$repo" rev-parse --short HEAD)
  grep -q "return \"$c1\"" "$tmp/g.c" || fail "version.cmake: not $c1: $(cat "$tmp/g.c")"
  touch -d '2000-01-01' "$tmp/g.c"
  cmake -DSRC="$repo" -DOUT="$tmp/g.c" -DVERSION=1 -P "$src/scripts/version.cmake"
  [[ $(stat -c %Y "$tmp/g.c") -lt 1000000000 ]] || fail "version.c rewritten without a change"
  git -C "$repo" -c user.name=t -c user.email=t@t commit -q --allow-empty -m two
  cmake -DSRC="$repo" -DOUT="$tmp/g.c" -DVERSION=1 -P "$src/scripts/version.cmake"
  c2=$(git -C "$repo" rev-parse --short HEAD)
  grep -q "return \"$c2\"" "$tmp/g.c" || fail "a new commit not recorded: $(cat "$tmp/g.c")"
fi

if ((fails)); then
  echo "install: $fails check(s) failed" >&2
  exit 1
fi
echo "install: all checks passed"
