#!/usr/bin/env bash
# Out of space for ingest, select, score, weight, export and training, under
# np 1, 2 and 3: a full file system (ENOSPC, a tmpfs filled to the last page)
# when this machine lets the test mount one, and always a file-size limit
# (EFBIG, `ulimit -f` set inside each rank). Every run must exit 1 on every
# rank within the timeout, name the failure as out of space, and leave
# nothing under the final names, no temporary and no claim.
source "$(dirname "$0")/common.sh"
make_inputs 6000
run 1 train kde --in store.h5 --out model.h5 > /dev/null
nospace='out of space|short write'

# The six commands, writing into folder $1 (weight writes derived columns
# next to the store it is given, so it gets a copy of the store and its side
# files there; after a failure those must be exactly the ones copied, the
# index unchanged). A final name with * is a glob: nothing may match it.
commands() {
  local d=$1
  echo "ingest --out $d/s.h5 arch/*.csv|$d/s.h5"
  echo "select --in store.h5 --channel chan3 --out $d/sel.h5 --cutflow $d/cf.json --quiet|$d/sel.h5 $d/sel.derived-* $d/cf.json"
  echo "score --model model.h5 --in store.h5 --out $d/sc.h5 --quiet|$d/sc.h5"
  echo "weight --in $d/w.h5 --lumi 10 --quiet|$d/w.derived.h5"
  echo "export --in store.h5 --out $d/x.csv|$d/x.csv"
  echo "train kde --in store.h5 --out $d/k.h5|$d/k.h5"
}

check_all() { # folder prefix-command...
  local d=$1; shift
  local np line args finals rc
  for np in 1 2 3; do
    while IFS='|' read -r args finals; do
      set +e
      # shellcheck disable=SC2086
      "$@" "$np" $args < /dev/null > out.txt 2>&1
      rc=$?
      set -e
      # shellcheck disable=SC2086
      expect_clean_failure "$rc" out.txt "$nospace" $finals
      if [[ $args == weight* ]]; then
        for f in store.derived-*; do
          cmp -s "$f" "$d/$f" || fail "np $np weight: $d/$f changed or missing"
        done
        [[ "$(cd "$d" && ls store.derived-*)" == "$(ls store.derived-*)" ]] ||
          fail "np $np weight: side files left behind: $(cd "$d" && ls store.derived-*)"
      fi
      echo "ok: np $np ${args%% *}: $(grep -Em1 "$nospace" out.txt)"
    done < <(commands "$d")
  done
}

# 1. A full file system, if this machine lets us mount one (root in CI).
mnt=$T/full
mkdir -p "$mnt"
if mount -t tmpfs -o size=2m tmpfs "$mnt" 2> /dev/null; then
  trap 'umount "$mnt" 2> /dev/null || true' EXIT
  fill() {
    rm -rf "${mnt:?}"/*
    cp store.h5 "$mnt/w.h5"
    cp store.derived-* "$mnt/"
    dd if=/dev/zero of="$mnt/filler" bs=4k 2> /dev/null || true
  }
  full_run() { fill; local np=$1; shift; run "$np" "$@"; }
  check_all "$mnt" full_run
  umount "$mnt"
  trap - EXIT
else
  echo "note: mount refused here; the file-size limit below covers out of space"
fi

# 2. A file-size limit: each rank gets `ulimit -f 4` (4 KiB), so every write
#    past 4 KiB fails with EFBIG (dmpipe ignores SIGXFSZ). TCP between ranks:
#    shared-memory transport segments are files and would hit the limit too.
lim=$T/lim
mkdir -p "$lim"
limited_run() {
  rm -rf "${lim:?}"/*
  cp store.h5 "$lim/w.h5"
  cp store.derived-* "$lim/"
  local np=$1; shift
  OMPI_MCA_btl=self,tcp timeout -k 5 90 "$MPIEXEC" -n "$np" \
    sh -c 'ulimit -f 4; exec "$0" "$@"' "$DMPIPE" "$@"
}
check_all "$lim" limited_run
echo "ok: out of space ends cleanly everywhere"
