#!/usr/bin/env bash
# Hostile stores (make_corpus.py: cut short, a dataset missing, offsets,
# counts, process indices or object types out of range, columns of different
# lengths, another format or version) against every command that reads a
# store. Each run must end within the timeout with exit 1, a message naming
# the file and the dataset (or attribute) at fault, and no output under its
# final name. Rank counts rotate over the given list (default 1 2 3) with the
# case and the command, so every case and every command meets each of them;
# --all runs every pair under every rank count (three times as long).
#   hostile_stores.sh [--all] [NP...]
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "$0")" && pwd)
all=0
if [[ ${1:-} == --all ]]; then
  all=1
  shift
fi
nps=("$@")
((${#nps[@]})) || nps=(1 2 3)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP"
cd "$DM_TEST_TMP"
run() { timeout 120 "$MPIEXEC" -n "$1" "$DMPIPE" "${@:2}" < /dev/null; }

# A good store with SM and BSM processes, and a model to score with.
run 2 generate --out arch --events 6000 --seed 5 --quiet
run 2 ingest --out good.h5 arch/*.csv > /dev/null
run 2 train kde --in good.h5 --out good.kde.h5 --quiet
"$PYTHON" "$here/make_corpus.py" good.h5 corpus

# The commands, with OUT standing for a fresh output path and F for the store.
commands=(
  "info F"
  "export --in F --out OUT.csv"
  "weight --in F --lumi 10 --quiet"
  "derive --in F --quiet"
  "select --in F --channel chan3 --out OUT.h5 --quiet"
  "train kde --in F --out OUT.h5 --quiet"
  "train svdd --in F --out OUT.h5 --features highlevel --hidden 8 --out-dim 2 --epochs 1 --quiet"
  "score --model good.kde.h5 --in F --out OUT.h5 --quiet"
)

# The intact store passes every command (so a failure below is the fault's).
cp good.h5 control.h5
for c in "${commands[@]}"; do
  line=${c//F/control.h5}
  line=${line//OUT/control.out}
  run 1 $line > /dev/null 2> control.err || { echo "control failed: $line" >&2; cat control.err >&2; exit 1; }
done

# One case: its commands in turn (they share the store and its derived columns);
# cases run side by side, since a failing mpiexec spends most of its time
# waiting for the job to be torn down.
run_case() {
  local icase=$1 name=$2 expect=$3 np icmd c out line rc problem
  local log="res/$name.log" runs=0 fails=0
  : > "$log"
  for np in "${nps[@]}"; do
    icmd=0
    for c in "${commands[@]}"; do
      icmd=$((icmd + 1))
      if ((!all)) && [[ $np != "${nps[$(((icase + icmd) % ${#nps[@]}))]}" ]]; then
        continue
      fi
      # weight reads the event index and process column only: a bad object
      # type is caught by every command that reads objects, not by weight.
      if [[ $name == object_type && $c == weight* ]]; then
        continue
      fi
      out="out.$name.$np"
      line=${c//F/corpus/$name.h5}
      line=${line//OUT/$out}
      set +e
      run "$np" $line > "res/$name.out" 2> "res/$name.err"
      rc=$?
      set -e
      runs=$((runs + 1))
      problem=""
      if ((rc == 124)); then
        problem="timed out (hang)"
      elif ((rc != 1)); then
        problem="exit $rc, expected 1"
      elif ! grep -q -- "$name.h5" "res/$name.err"; then
        problem="message does not name the file"
      elif ! grep -Eq -- "$expect" "res/$name.err"; then
        problem="message does not match '$expect'"
      elif compgen -G "$out*" > /dev/null; then
        problem="left $(compgen -G "$out*" | tr '\n' ' ')"
      fi
      if [[ -n $problem ]]; then
        {
          echo "FAIL np $np $name: dmpipe $line: $problem"
          sed 's/^/    /' "res/$name.err" | head -20
        } >> "$log"
        fails=$((fails + 1))
      fi
    done
  done
  echo "$runs $fails" > "res/$name.count"
}

mkdir -p res
icase=0
while IFS=$'\t' read -r name expect; do
  icase=$((icase + 1))
  while (($(jobs -rp | wc -l) >= 4)); do
    wait -n || true
  done
  run_case "$icase" "$name" "$expect" &
done < corpus/cases.txt
wait
runs=0 fails=0
while IFS=$'\t' read -r name expect; do
  if [[ ! -s res/$name.count ]]; then
    echo "FAIL $name: its runs did not finish" >&2
    fails=$((fails + 1))
    continue
  fi
  read -r r f < "res/$name.count"
  runs=$((runs + r)) fails=$((fails + f))
  cat "res/$name.log" >&2
done < corpus/cases.txt
echo "hostile stores: $runs runs, $fails failures"
((fails == 0))
