#!/usr/bin/env bash
# Two runs writing one output at the same time, under np 1, 2 and 3 for the
# second run: the first completes; the second either fails at once naming
# the run that holds the output (exit 1) or, if the first was already done,
# completes too. Never a file under the final name that is not a complete
# store: `dmpipe info` reads it and its data equal an undisturbed run's. A
# claim left by a killed run (unlocked) does not block anyone.
source "$(dirname "$0")/common.sh"
rm -rf "$T"; mkdir -p "$T"; cd "$T"
run 2 generate --out arch --events 100000 --seed 9 > /dev/null
run 2 ingest --out ref.h5 arch/*.csv > /dev/null
busy=0
for np in 1 2 3; do
  out=c$np.h5
  "$MPIEXEC" -n 2 "$DMPIPE" ingest --out "$out" --buffer-mb 8 arch/*.csv > a.txt 2>&1 &
  first=$!
  for _ in $(seq 1 2000); do [[ -e $out.lock ]] && break; sleep 0.005; done
  set +e
  run "$np" ingest --out "$out" arch/*.csv > b.txt 2>&1
  rcb=$?
  wait "$first"
  rca=$?
  set -e
  [[ $rca -eq 0 ]] || { cat a.txt >&2; fail "np $np: the first run failed ($rca)"; }
  if [[ $rcb -ne 0 ]]; then
    [[ $rcb -eq 1 ]] || fail "np $np: second run exit $rcb"
    grep -q "is being written by another run (host .*, pid [0-9]*" b.txt ||
      { cat b.txt >&2; fail "np $np: the second run's message does not name the holder"; }
    busy=$((busy + 1))
  fi
  "$DMPIPE" info "$out" > /dev/null || fail "np $np: $out is not a readable store"
  "$PYTHON" "$DM_SOURCE_DIR/tests/ingest/compare_stores.py" ref.h5 "$out"
  [[ -z $(ls | grep -F "$out." || true) ]] || fail "np $np: leftovers: $(ls | grep -F "$out.")"
  echo "ok: np $np: second run exit $rcb ($(head -c 150 b.txt | tr '\n' ' '))"
done
# At least one overlap happened, or the test did not test anything.
[[ $busy -ge 1 ]] || fail "the runs never overlapped"
# A claim file without a lock (its run was killed) is taken over.
echo "host elsewhere, pid 1, since 2020-01-01T00:00:00Z" > stale.h5.lock
run 2 ingest --out stale.h5 arch/*.csv > /dev/null
[[ -e stale.h5 && ! -e stale.h5.lock ]] || fail "a stale claim blocked the run"
# A claim held right now (by flock-free fcntl lock from another process) blocks.
"$PYTHON" - <<'PY' &
import fcntl, os, time
fd = os.open("held.h5.lock", os.O_RDWR | os.O_CREAT, 0o666)
os.write(fd, b"host testhost, pid 4242, since now\n")
fcntl.lockf(fd, fcntl.LOCK_EX)
open("held.ready", "w").close()
time.sleep(20)
PY
holder=$!
for _ in $(seq 1 1000); do [[ -e held.ready ]] && break; sleep 0.01; done
set +e
run 3 ingest --out held.h5 arch/*.csv > h.txt 2>&1
rc=$?
set -e
kill "$holder" 2> /dev/null || true
wait "$holder" 2> /dev/null || true
[[ $rc -eq 1 ]] && grep -q "held.h5 is being written by another run (host testhost, pid 4242" h.txt ||
  { cat h.txt >&2; fail "a held claim did not stop the run (exit $rc)"; }
[[ ! -e held.h5 ]] && ! compgen -G "held.h5.*.tmp" > /dev/null || fail "the blocked run left files"
echo "ok: concurrent runs never leave a broken output"
