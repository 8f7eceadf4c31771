#!/bin/bash
# dmpipe train svdd end to end on the pythia sample: train on 1 and 2 ranks,
# score, resume after an "interruption", collapse guard, bad input.
# Expected values come from h5py/numpy/sklearn (tests/svdd/check_svdd.py),
# never from dmpipe itself.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${DM_FIXTURES:?}" "${PYTHON:?}"
here=$(cd "$(dirname "$0")" && pwd)
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T"
S=$DM_FIXTURES/pythia-sample
fail() { echo "FAIL: $*" >&2; exit 1; }

# A small store: four SM processes and two signals.
for p in ttbar w_jets z_jets njets gluino_01 Zp_01; do
  zstd -q -d -f "$S/$p.csv.zst" -o "$T/$p.csv"
done
$MPIEXEC -n 2 "$DMPIPE" ingest --out "$T/store.h5" "$T"/{ttbar,w_jets,z_jets,njets,gluino_01,Zp_01}.csv >/dev/null

common=(--in "$T/store.h5" --features highlevel --hidden 32,16 --out-dim 8 --batch 200
        --lr 3e-3 --seed 5 --quiet)

# 1 vs 2 ranks: same global batches; weights agree to float rounding.
$MPIEXEC -n 1 "$DMPIPE" train svdd "${common[@]}" --epochs 4 --out "$T/np1.h5"
$MPIEXEC -n 2 "$DMPIPE" train svdd "${common[@]}" --epochs 4 --out "$T/np2.h5" --json "$T/np2.json"
[ -f "$T/np2.h5.ckpt" ] || fail "no checkpoint written next to the model"

# Interrupted run: 2 epochs, then --resume to 4: bitwise the uninterrupted run.
$MPIEXEC -n 2 "$DMPIPE" train svdd "${common[@]}" --epochs 2 --out "$T/part.h5" \
    --checkpoint "$T/resume.ckpt"
$MPIEXEC -n 2 "$DMPIPE" train svdd "${common[@]}" --epochs 4 --out "$T/resumed.h5" \
    --checkpoint "$T/resume.ckpt" --resume

# Ensemble of 2 and soft-boundary, then score with the generic score command.
$MPIEXEC -n 2 "$DMPIPE" train svdd "${common[@]}" --epochs 3 --out "$T/ens.h5" --ensemble 2 \
    --objective soft-boundary --nu 0.1 --warm-up 1 --checkpoint none
[ ! -e "$T/ens.h5.ckpt" ] || fail "--checkpoint none still wrote a checkpoint"
$MPIEXEC -n 2 "$DMPIPE" score --model "$T/np2.h5" --in "$T/store.h5" --out "$T/np2_scores.h5" --quiet
$MPIEXEC -n 3 "$DMPIPE" score --model "$T/ens.h5" --in "$T/store.h5" --out "$T/ens_scores.h5" --quiet

"$PYTHON" "$here/check_svdd.py" "$T"

# Collapse guard: identical events give identical scores.
line=$(head -n 1 "$T/ttbar.csv" | cut -d';' -f2-)
for i in $(seq 1 300); do echo "$i;$line"; done > "$T/same.csv"
$MPIEXEC -n 2 "$DMPIPE" ingest --out "$T/same.h5" "$T/same.csv" >/dev/null
$MPIEXEC -n 2 "$DMPIPE" train svdd --in "$T/same.h5" --background ttbar --features highlevel \
    --hidden 8 --out-dim 4 --epochs 1 --out "$T/same_model.h5" 2> "$T/collapse.err" >/dev/null \
    || fail "collapse without --strict must only warn"
grep -q "COLLAPSED" "$T/collapse.err" || fail "no collapse warning: $(cat "$T/collapse.err")"
rc=0
$MPIEXEC -n 2 "$DMPIPE" train svdd --in "$T/same.h5" --background ttbar --features highlevel \
    --hidden 8 --out-dim 4 --epochs 1 --out "$T/strict.h5" --strict 2> "$T/strict.err" \
    >/dev/null || rc=$?
[ "$rc" = 1 ] || fail "--strict on a collapsed model: exit $rc, expected 1"
grep -q "collapsed" "$T/strict.err" || fail "strict failure does not say why"
[ ! -e "$T/strict.h5" ] && [ ! -e "$T/strict.h5.tmp" ] || fail "a model was left after --strict failed"

# Bad input: usage errors (exit 2) name the flag; a corrupt checkpoint names the file.
expect_rc() {
  local want=$1 pattern=$2; shift 2
  local rc=0
  "$@" > "$T/out.txt" 2> "$T/err.txt" || rc=$?
  [ "$rc" = "$want" ] || fail "$* -> exit $rc, expected $want: $(cat "$T/err.txt")"
  grep -q -- "$pattern" "$T/err.txt" || fail "$* -> message lacks '$pattern': $(cat "$T/err.txt")"
}
expect_rc 2 "--hidden" $MPIEXEC -n 2 "$DMPIPE" train svdd --in "$T/store.h5" --out "$T/x.h5" --hidden 32,0
expect_rc 2 "--objective" $MPIEXEC -n 2 "$DMPIPE" train svdd --in "$T/store.h5" --out "$T/x.h5" --objective round
expect_rc 2 "--nu" $MPIEXEC -n 2 "$DMPIPE" train svdd --in "$T/store.h5" --out "$T/x.h5" --nu 1.5
expect_rc 2 "--milestones" $MPIEXEC -n 2 "$DMPIPE" train svdd --in "$T/store.h5" --out "$T/x.h5" --milestones 5,3
expect_rc 2 "required" $MPIEXEC -n 2 "$DMPIPE" train svdd --out "$T/x.h5"
printf 'garbage' > "$T/bad.ckpt"
expect_rc 1 "bad.ckpt" $MPIEXEC -n 2 "$DMPIPE" train svdd "${common[@]}" --epochs 2 --out "$T/x.h5" \
    --checkpoint "$T/bad.ckpt" --resume
[ ! -e "$T/x.h5" ] || fail "a model was written although training failed"
# Resuming with other options is refused, naming the file.
expect_rc 1 "resume.ckpt" $MPIEXEC -n 2 "$DMPIPE" train svdd "${common[@]}" --epochs 4 --lr 1e-2 \
    --out "$T/x.h5" --checkpoint "$T/resume.ckpt" --resume
"$DMPIPE" train svdd --help > "$T/help.txt"
for flag in --in --out --features --hidden --out-dim --epochs --batch --lr --weight-decay \
    --milestones --objective --nu --ensemble --seed --resume --strict; do
  grep -q -- "  $flag " "$T/help.txt" || fail "--help does not document $flag"
done
echo "cli_svdd: ok"
