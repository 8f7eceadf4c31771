#!/usr/bin/env bash
# kill -9 of one rank in the middle of an ingest, under np 1, 2 and 3: the
# other ranks exit within the timeout (no hang), nothing is left under the
# final name (only the killed run's temporary, files named after it, and its
# claim may remain),
# and a rerun removes those leftovers and writes the same store as a run that
# was never disturbed.
source "$(dirname "$0")/common.sh"
rm -rf "$T"; mkdir -p "$T"; cd "$T"
run 2 generate --out arch --events 150000 --seed 5 > /dev/null
run 2 ingest --out ref.h5 arch/*.csv > /dev/null
for np in 1 2 3; do
  out=k$np.h5
  "$MPIEXEC" -n "$np" "$DMPIPE" ingest --out "$out" --buffer-mb 8 arch/*.csv > run.txt 2>&1 &
  launcher=$!
  # Mid-run: once the claim and the temporary exist (the writer has begun).
  victim=""
  for _ in $(seq 1 2000); do
    if compgen -G "$out.*.tmp" > /dev/null; then
      victim=$(pgrep -f "^$DMPIPE ingest --out $out " | tail -1 || true)
      [[ -n $victim ]] && break
    fi
    sleep 0.005
  done
  [[ -n $victim ]] || fail "np $np: the run never started writing"
  kill -9 "$victim"
  set +e
  timeout -k 5 60 tail --pid="$launcher" -f /dev/null
  wait "$launcher"
  rc=$?
  set -e
  [[ $rc -ne 0 && $rc -ne 124 ]] || fail "np $np: exit $rc after kill -9 of rank pid $victim"
  [[ ! -e $out ]] || fail "np $np: $out under its final name after the kill"
  # The run's temporary, its claim, and what the MPI-IO layer named after the
  # temporary (Open MPI's shared file pointer lock, TMP-<job>-<pid>.lock).
  leftovers=$(ls | grep -F "$out" | grep -Ev "^$out\.[A-Za-z0-9_]+-[0-9]+\.tmp(-[0-9]+-[0-9]+\.lock)?$|^$out\.lock$" || true)
  [[ -z $leftovers ]] || fail "np $np: unexpected files after the kill: $leftovers"
  # The rerun takes over the dead run's claim and removes its temporary.
  run "$np" ingest --out "$out" arch/*.csv > /dev/null
  [[ -z $(ls | grep -F "$out." || true) ]] || fail "np $np: leftovers after the rerun: $(ls | grep -F "$out.")"
  "$PYTHON" "$DM_SOURCE_DIR/tests/ingest/compare_stores.py" ref.h5 "$out"
  "$DMPIPE" info "$out" > /dev/null
  echo "ok: np $np: kill -9 of pid $victim -> exit $rc, rerun identical"
done
