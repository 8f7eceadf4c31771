#!/bin/bash
# dmpipe train svdd at scale, end to end: the global batch rule forced on 2
# and 3 ranks (recorded batch and learning rate, convergence), the streamed
# training pool (--pool-mb below the pool: peak memory per rank against a
# baseline measured here on a tiny store, 1 vs 2 vs 3 ranks, bitwise resume),
# and bad values naming their flag on 1, 2 and 3 ranks. Expected values come
# from tests/svdd/check_scale.py (h5py/numpy and the formulas of dm_svdd.h).
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "$0")" && pwd)
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
run() { local np=$1; shift; timeout 300 $MPIEXEC -n "$np" "$DMPIPE" "$@"; }

# A store of 100,000 SM events (90,000 training rows, about 14 MB in memory
# per rank at np 1) and a tiny one for the memory baseline.
run 1 generate --out "$T/gen" --events 100000 --processes sm --seed 3 >/dev/null
run 2 ingest --out "$T/big.h5" "$T"/gen/*.csv >/dev/null
run 1 generate --out "$T/gent" --events 400 --processes sm --seed 4 >/dev/null
run 1 ingest --out "$T/tiny.h5" "$T"/gent/*.csv >/dev/null

common=(--features highlevel --hidden 32,16 --out-dim 8 --batch 200 --lr 3e-3 --seed 5 --quiet)
MB=4

# Streamed: 2 epochs on 1, 2, 3 ranks; the baseline: the same on the tiny store.
for np in 1 2 3; do
  run $np train svdd --in "$T/tiny.h5" "${common[@]}" --epochs 2 --pool-mb $MB \
      --out "$T/base$np.h5" --json "$T/base$np.json"
  run $np train svdd --in "$T/big.h5" "${common[@]}" --epochs 2 --pool-mb $MB \
      --out "$T/st$np.h5" --json "$T/st$np.json"
done
# The same pool in memory (the default budget holds it): far above the budget.
run 1 train svdd --in "$T/big.h5" "${common[@]}" --epochs 1 --out "$T/mem1.h5" \
    --json "$T/mem1.json" --checkpoint none
# Interrupted after epoch 1, resumed to 2: bitwise the uninterrupted 2 ranks.
run 2 train svdd --in "$T/big.h5" "${common[@]}" --epochs 1 --pool-mb $MB \
    --out "$T/part.h5" --checkpoint "$T/resume.ckpt"
run 2 train svdd --in "$T/big.h5" "${common[@]}" --epochs 2 --pool-mb $MB \
    --out "$T/resumed.h5" --checkpoint "$T/resume.ckpt" --resume

# The rule forced: --batch 64 with at least 50 rows per rank: 100 on 2 ranks,
# 150 on 3; 0 epochs for the starting point of the convergence check.
rule=(--features highlevel --hidden 32,16 --out-dim 8 --batch 64 --min-rows-per-rank 50
      --lr 3e-3 --lr-warm-up 2 --seed 5 --max-train 20000 --quiet --checkpoint none)
for np in 2 3; do
  run $np train svdd --in "$T/big.h5" "${rule[@]}" --epochs 4 --out "$T/rule$np.h5" \
      --json "$T/rule$np.json" 2> "$T/rule$np.err"
  grep -q "global batch $((50 * np))" "$T/rule$np.err" || fail "no rule line: $(cat "$T/rule$np.err")"
  run $np train svdd --in "$T/big.h5" "${rule[@]}" --epochs 0 --out "$T/rule0_$np.h5" 2>/dev/null
done

"$PYTHON" "$here/check_scale.py" "$T" $MB

# Bad values: usage errors (exit 2) name the flag; a budget below one batch
# fails (exit 1) naming --pool-mb; nothing is left under the model's name.
expect_rc() {
  local want=$1 pattern=$2; shift 2
  local rc=0
  "$@" > "$T/out.txt" 2> "$T/err.txt" || rc=$?
  [ "$rc" = "$want" ] || fail "$* -> exit $rc, expected $want: $(cat "$T/err.txt")"
  grep -q -- "$pattern" "$T/err.txt" || fail "$* -> message lacks '$pattern': $(cat "$T/err.txt")"
}
for np in 1 2 3; do
  bad=(timeout 120 $MPIEXEC -n $np "$DMPIPE" train svdd --in "$T/tiny.h5" --out "$T/x.h5")
  expect_rc 2 "--min-rows-per-rank" "${bad[@]}" --min-rows-per-rank -1
  expect_rc 2 "--lr-warm-up" "${bad[@]}" --lr-warm-up soon
  expect_rc 2 "--pool-mb" "${bad[@]}" --pool-mb 0
  expect_rc 1 "--pool-mb" timeout 120 $MPIEXEC -n $np "$DMPIPE" train svdd --in "$T/big.h5" \
      --out "$T/x.h5" --features highlevel --pool-mb 1 --batch 20000 --epochs 1 --checkpoint none
  [ ! -e "$T/x.h5" ] || fail "a model was left after a failed run (np $np)"
done
"$DMPIPE" train svdd --help > "$T/help.txt"
for flag in --min-rows-per-rank --lr-warm-up --pool-mb; do
  grep -q -- "  $flag " "$T/help.txt" || fail "--help does not document $flag"
done
echo "scale_svdd: ok"
