#!/bin/bash
# Bad input: clear messages naming the flag, process, file or line; every
# rank exits together with the same status; nothing is left under a final or
# temporary name, and an earlier file of the same name survives a failed run.
set -uo pipefail
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T"
fails=0
# expect CODE PATTERN -- command...
expect() {
  local code=$1 pat=$2
  shift 3
  "$@" > "$T/out" 2> "$T/err"
  local rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -q -- "$pat" "$T/err"; then
    echo "FAIL: '$*' gave $rc (want $code), stderr:"; cat "$T/err"; fails=$((fails + 1))
  fi
}
expect 2 "events N is required" -- $DMPIPE generate --out "$T/x"
expect 2 "out DIR is required" -- $DMPIPE generate --events 10
expect 2 "\-\-events" -- $DMPIPE generate --out "$T/x" --events 0
expect 2 "\-\-events" -- $DMPIPE generate --out "$T/x" --events 12abc
expect 2 "\-\-bad-rate" -- $DMPIPE generate --out "$T/x" --events 10 --bad-rate 1.5
expect 2 "\-\-lumi" -- $DMPIPE generate --out "$T/x" --events 10 --lumi -1
expect 2 "unknown option" -- $DMPIPE generate --out "$T/x" --events 10 --frobnicate
expect 1 "'nosuch' is not in the process table" -- \
  $MPIEXEC -n 2 $DMPIPE generate --out "$T/x" --events 10 --processes ttbar,nosuch
expect 1 "processes.csv:[0-9]*: the cross section of process 'stlp_st1000' is unknown" -- \
  $DMPIPE generate --out "$T/x" --events 10 --processes stlp_st1000
expect 1 "smaller than the number of processes" -- \
  $MPIEXEC -n 3 $DMPIPE generate --out "$T/x" --events 5 --processes all
printf 'name,kind,sigma_pb,model\nttbar,sm,541,ttbar\nzz,sm,lots,vv:zz\n' > "$T/bad.csv"
expect 1 "bad.csv:3: sigma_pb 'lots'" -- \
  $MPIEXEC -n 2 $DMPIPE generate --out "$T/x" --events 10 --xsec "$T/bad.csv"
expect 1 "nothere.csv" -- $DMPIPE generate --out "$T/x" --events 10 --xsec "$T/nothere.csv"
touch "$T/afile"
expect 1 "not a directory" -- $MPIEXEC -n 2 $DMPIPE generate --out "$T/afile" --events 1000
[ ! -e "$T/x" ] || { echo "FAIL: output folder made by failed runs"; ls -la "$T/x"; fails=$((fails + 1)); }

# A model that can never pass its cut fails mid-run on some rank: all ranks
# stop, no .csv or .tmp appears, and the old ttbar.csv is untouched.
printf 'name,kind,sigma_pb,model,gen_cut\nttbar,sm,541,ttbar,\nnever,sm,1,qcd,met>100000\n' \
  > "$T/never.csv"
mkdir -p "$T/keep"
echo "old" > "$T/keep/ttbar.csv"
expect 1 "no draw passed" -- $MPIEXEC -n 3 $DMPIPE generate --out "$T/keep" --events 60 \
  --xsec "$T/never.csv" --block 5
# The same when the failure is reported in the first round, seen while the
# next round is formatted (4 blocks on 2 ranks), or after the last round
# (2 blocks, one round).
printf 'name,kind,sigma_pb,model,gen_cut\nnever,sm,1,qcd,met>100000\n' > "$T/never_only.csv"
expect 1 "no draw passed" -- $MPIEXEC -n 2 $DMPIPE generate --out "$T/keep" --events 10 \
  --xsec "$T/never_only.csv" --block 3
expect 1 "no draw passed" -- $MPIEXEC -n 2 $DMPIPE generate --out "$T/keep" --events 10 \
  --xsec "$T/never_only.csv" --block 5
[ "$(cat "$T/keep/ttbar.csv")" = "old" ] || { echo "FAIL: ttbar.csv replaced"; fails=$((fails + 1)); }
left=$(ls "$T/keep" | grep -v '^ttbar.csv$' || true)
[ -z "$left" ] || { echo "FAIL: left behind: $left"; fails=$((fails + 1)); }

# --help documents every flag.
$DMPIPE generate --help > "$T/help"
for f in --out --events --seed --processes --xsec --lumi --bad-rate --no-trailing-semicolon \
         --block --json --progress --no-progress --quiet --help; do
  grep -q -- "$f" "$T/help" || { echo "FAIL: --help lacks $f"; fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "generate_errors: ok"
