#!/usr/bin/env bash
# dmpipe catalog on 1, 2 and 3 ranks: per-sample stores joined into one store
# whose datasets equal one ingest of the same CSV files, read by h5py as one
# store (virtual datasets, no special code) and by a stage (export gives the
# ingest's text). The catalog holds no copy of the samples (its file is a few
# % of its parts), and its parts are hard links to the sample stores. A part
# missing, replaced by another store or truncated is an error naming it on
# every rank (no hang: every run under a timeout). Bad inputs fail on every
# rank with a message naming the file and leave no catalog.
# (catalog_parts.sh: stages on a catalog, moving it, replacing samples.)
source "$(dirname "$0")/catalog_common.sh"
for np in 1 2 3; do
  timeout 120 "$MPIEXEC" -n $np "$DMPIPE" catalog --out cat$np.h5 --batch 1000 "${samples[@]}" \
    >out.txt || fail "catalog on $np ranks"
  grep -q "4 samples, 12000 events.*parts: 4 linked, 0 copied, 0 kept, 0 removed" out.txt || fail "np $np: $(cat out.txt)"
  same all.h5 cat$np.h5 || fail "catalog on $np ranks differs from one ingest"
  small cat$np.h5 || fail "np $np: the catalog is not small"
  [[ $(stat -c %i cat$np.parts/s_ttbar-*.h5) == $(stat -c %i s_ttbar.h5) ]] || fail "np $np: the part is not a hard link"
  # Errors: a missing input, a file that is not a store, a catalog; no catalog left.
  rc=0; timeout 60 "$MPIEXEC" -n $np "$DMPIPE" catalog --out bad$np.h5 s_ttbar.h5 nothere.h5 >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] && grep -q "nothere.h5" err.txt || fail "np $np missing input: $rc $(cat err.txt)"
  rc=0; timeout 60 "$MPIEXEC" -n $np "$DMPIPE" catalog --out bad$np.h5 s_ttbar.h5 archive/ttbar.csv >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] && grep -q "ttbar.csv" err.txt || fail "np $np not a store: $rc $(cat err.txt)"
  rc=0; timeout 60 "$MPIEXEC" -n $np "$DMPIPE" catalog --out bad$np.h5 s_ttbar.h5 cat$np.h5 >out.txt 2>err.txt || rc=$?
  [[ $rc == 1 ]] && grep -q "cat$np.h5 is a catalog itself" err.txt || fail "np $np catalog of a catalog: $rc $(cat err.txt)"
  [[ ! -e bad$np.h5 && ! -e bad$np.parts ]] || fail "np $np: a failed catalog left a file"
  ls bad$np.h5.* 2>/dev/null && fail "np $np: a failed catalog left a temporary"
  # A damaged part: missing, another store, truncated. The stage stops on
  # every rank with the catalog and the part named; the sample store itself
  # is untouched (the part is moved aside, not modified).
  part=$(ls cat$np.parts/s_ttbar-*.h5)
  for damage in missing other truncated; do
    mv "$part" keep.h5
    case $damage in
      missing) want="its part $part is missing" ;;
      other) cp s_w_jets.h5 "$part"; want="its part $part is another store" ;;
      truncated) head -c 40000 keep.h5 > "$part"; want="its part $part cannot be read as the store" ;;
    esac
    rc=0; timeout 60 "$MPIEXEC" -n $np "$DMPIPE" export --in cat$np.h5 --out bad.csv >out.txt 2>err.txt || rc=$?
    [[ $rc == 1 ]] && grep -qF "cat$np.h5: $want" err.txt || fail "np $np $damage part: $rc $(cat err.txt)"
    [[ ! -e bad.csv ]] || fail "np $np $damage part: output left"
    rm -f "$part"; mv keep.h5 "$part"
  done
done
[[ $(stat -c %s s_ttbar.h5) == $(stat -c %s "$part") ]] || fail "the sample store changed"
# A stage reads it as the ingest: the export is the same text.
timeout 120 "$MPIEXEC" -n 3 "$DMPIPE" export --in cat3.h5 --out cat3.csv >/dev/null || fail "export of cat3.h5"
cmp -s all.csv cat3.csv || fail "export of the catalog differs from the ingest's"
echo "catalog ok"
