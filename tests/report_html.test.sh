#!/usr/bin/env bash
# ctest-labels: browser;slow
# The one-file HTML report in a real browser: Debian's chromium, headless,
# renders it to a DOM dump and to a screenshot. From the DOM: every result
# table, the provenance and runs tables and every figure are there in the
# numbers the database implies, every SVG is well-formed, no <img> without a
# src, nothing external; the screenshot exists, has the window's size and is
# not blank. Skipped (77) without chromium: `scripts/install-deps --browser`.
# The screenshot is kept as $EB_BUILD/report_html.png to look at.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
chromium=${EFFBENCH_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[[ -n "$chromium" ]] || {
  echo "SKIP: chromium not installed (scripts/install-deps --browser)"
  exit 77
}
command -v sqlite3 >/dev/null || { echo "SKIP: sqlite3 (the CLI) not installed"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
. "$src/tests/report_html_common.sh"

# root in a container: no sandbox; a profile of its own; no GPU
browse() {
  timeout 180 "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --user-data-dir="$tmp/profile" "$@" "file://$tmp/report.html"
}
browse --dump-dom >"$tmp/dom.html" 2>"$tmp/chromium.log" ||
  fail "chromium --dump-dom: $(tail -5 "$tmp/chromium.log")"
python3 "$check_py" "$tmp/dom.html" --dom --tables "$n_tables" --svgs "$n_svgs" \
  --runs "$n_runs" --contains "$commit" || fail "DOM dump (above)"

w=1280 h=2400
browse --window-size=$w,$h --screenshot="$tmp/shot.png" >>"$tmp/chromium.log" 2>&1 ||
  fail "chromium --screenshot: $(tail -5 "$tmp/chromium.log")"
if [[ -s "$tmp/shot.png" ]]; then
  python3 "$check_py" --png "$tmp/shot.png" --width $w --height $h || fail "screenshot (above)"
  cp "$tmp/shot.png" "${EB_BUILD:-.}/report_html.png" 2>/dev/null || true
else
  fail "no screenshot written"
fi

[[ $fails -eq 0 ]] || { echo "$fails check(s) failed"; exit 1; }
echo "report_html: ok in $("$chromium" --version 2>/dev/null) ($n_tables tables," \
  "$n_svgs figures)"
