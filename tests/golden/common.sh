# Shared by the golden_*.test.sh cross-checks (sourced, not run): finds a
# python3 with torch (else exits 77 = skipped), makes a temporary directory,
# and defines run_case and golden_done.
# Env: EFFBENCH (binary), EB_SRC (source dir); EB_PYTHON, when set, is the only
# interpreter tried.
: "${EFFBENCH:?EFFBENCH must point to the effbench binary}"
CHECK="$EB_SRC/tests/golden/check_export.py"

# torch comes from Debian's python3-torch; a pyenv/venv python3 on PATH may lack it.
PY=""
for cand in ${EB_PYTHON:-/usr/bin/python3 python3}; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import torch, numpy' >/dev/null 2>&1; then
        PY="$cand"
        break
    fi
done
if [ -z "$PY" ]; then
    echo "SKIPPED: python3-torch not installed (no python3 with torch and numpy)"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/eb-golden.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

SMALL=(--dim 32 --depth 2 --heads 4 --ffn 64 --len 24 --batch 4 --vocab 20 --classes 5)
failed=0
ran=0

# run_case NAME ARCH CHECK-OPTIONS EXPORT-OPTIONS... (the default export batch
# pads some sequences; --require-padding makes sure the masked paths run)
run_case() {
    local name=$1 arch=$2 checkopt=$3
    shift 3
    local out="$TMP/$name.safetensors"
    ran=$((ran + 1))
    if ! "$EFFBENCH" export --arch "$arch" --with-batch --out "$out" "$@" >"$TMP/$name.log" 2>&1; then
        echo "FAIL $name: effbench export --arch $arch $* failed:"
        sed 's/^/    /' "$TMP/$name.log"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: effbench export --arch $arch $*"
    if ! "$PY" "$CHECK" $checkopt "$out"; then
        echo "FAIL $name"
        failed=$((failed + 1))
    fi
}

# golden_done TEST-NAME: the summary line; exit 1 when a case failed
golden_done() {
    echo "$1: $((ran - failed))/$ran cases ok"
    [ "$failed" -eq 0 ] || exit 1
    exit 0
}
