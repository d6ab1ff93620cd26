#!/usr/bin/env bash
# ctest-labels: e2e
# image / pathfinder from the command line: `effbench data` writes the official
# format (creating the whole --out path, refusing a non-empty one), training
# reads it back through `path=`, the cache is best effort (damaged files are
# rebuilt, an unwritable cache is skipped), and malformed input exits 2 with a
# message naming the file.
set -u
eb=${EFFBENCH:?EFFBENCH must point at the binary}
src=${EB_SRC:?EB_SRC must point at the source tree}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export EFFBENCH_CACHE=$tmp/cache
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect CODE PATTERN -- command...
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [[ $rc -ne $code ]]; then
    fail "'$*' exited $rc, expected $code; output: $out"
  elif ! grep -qE -- "$pattern" <<<"$out"; then
    fail "'$*' output does not match /$pattern/: $out"
  fi
}

tiny=(--dim 16 --depth 1 --heads 2 --ffn 32 --steps 3 --batch 4 --eval-every 3
      --eval-batches 2)

# pathfinder: generate -> PNG layout -> train from it
expect 0 "" -- "$eb" data pathfinder --out "$tmp/pf" --seed 3 --task-param train=80 \
  --task-param val=10 --task-param test=10
[[ -f $tmp/pf/curv_contour_length_14/metadata/0.npy &&
   -f $tmp/pf/curv_contour_length_14/imgs/0/sample_99.png ]] || fail "layout not written"
expect 0 "test accuracy" -- "$eb" train --task pathfinder --task-param path="$tmp/pf" \
  "${tiny[@]}"
# writing over it is refused; a nested --out is created
expect 1 "curv_contour_length_14: not empty" -- "$eb" data pathfinder --out "$tmp/pf" \
  --task-param train=8 --task-param val=1 --task-param test=1
expect 0 "" -- "$eb" data pathfinder --out "$tmp/deep/er/pf" --task-param train=8 \
  --task-param val=1 --task-param test=1
[[ -f $tmp/deep/er/pf/curv_contour_length_14/imgs/0/sample_9.png ]] ||
  fail "nested --out: layout not written"
# damaged cache files are rebuilt; an unwritable cache is skipped
for f in "$tmp"/cache/*.ebds; do
  [[ -e $f ]] || fail "no pathfinder cache file to damage"
  printf 'damaged' >"$f"
done
expect 0 "test accuracy" -- "$eb" train --task pathfinder --task-param path="$tmp/pf" \
  "${tiny[@]}"
touch "$tmp/plain"
EFFBENCH_CACHE=$tmp/plain/cache expect 0 "test accuracy" -- "$eb" train --task pathfinder \
  --task-param path="$tmp/pf" "${tiny[@]}"
EFFBENCH_CACHE=$tmp/plain expect 0 "test accuracy" -- "$eb" train --task pathx \
  --task-param size=32 --task-param train=8 --task-param val=2 --task-param test=2 \
  "${tiny[@]}"
sed -i '5s/ [01]$/ 7/' "$tmp/pf/curv_contour_length_14/metadata/0.npy"
expect 2 "metadata/0.npy:5: bad label '7'" -- "$eb" train --task pathfinder \
  --task-param path="$tmp/pf" "${tiny[@]}"

# image: golden IDX -> write -> read back as mnist-idx
expect 0 "" -- "$eb" data image --out "$tmp/idx" --task-param source=mnist-idx \
  --task-param path="$src/tests/data/image/idxgz" --task-param val=1
cmp -s "$tmp/idx/train-images-idx3-ubyte" "$src/tests/data/image/idx/train-images-idx3-ubyte" ||
  fail "written IDX differs from the golden file"
expect 0 "test accuracy" -- "$eb" train --task image --task-param source=mnist-idx \
  --task-param path="$tmp/idx" --task-param val=1 "${tiny[@]}" --batch 2
expect 1 "idx: not empty" -- "$eb" data image --out "$tmp/idx" --task-param source=mnist-idx \
  --task-param path="$src/tests/data/image/idxgz" --task-param val=1
expect 0 "" -- "$eb" data image --out "$tmp/n/e/s/t" --task-param source=mnist-idx \
  --task-param path="$src/tests/data/image/idxgz" --task-param val=1
cmp -s "$tmp/n/e/s/t/t10k-images-idx3-ubyte" "$src/tests/data/image/idx/t10k-images-idx3-ubyte" ||
  fail "nested --out: IDX not written"
for f in "$tmp"/cache/image-*.ebds; do
  [[ -e $f ]] || fail "no image cache file to damage"
  truncate -s 100 "$f"
done
EFFBENCH_CACHE=$tmp/plain/cache expect 0 "test accuracy" -- "$eb" train --task image \
  --task-param source=mnist-idx --task-param path="$tmp/idx" --task-param val=1 \
  "${tiny[@]}" --batch 2
expect 0 "test accuracy" -- "$eb" train --task image --task-param source=mnist-idx \
  --task-param path="$tmp/idx" --task-param val=1 "${tiny[@]}" --batch 2
head -c 20 "$tmp/idx/t10k-images-idx3-ubyte" > "$tmp/short" &&
  mv "$tmp/short" "$tmp/idx/t10k-images-idx3-ubyte"
expect 2 "t10k-images-idx3-ubyte: truncated" -- "$eb" data image --out "$tmp/o" \
  --task-param source=mnist-idx --task-param path="$tmp/idx" --task-param val=1
expect 2 "data_batch_1.bin" -- "$eb" data image --out "$tmp/o" --task-param source=cifar10 \
  --task-param path="$tmp/idx"

[[ $fails -eq 0 ]] && echo "pixels_cli: ok" || echo "pixels_cli: $fails failure(s)"
exit $((fails > 0))
