#!/usr/bin/env bash
# dmpipe catalog, its parts over time: weight, derive and select on a catalog
# give what they give on one ingest (the derived columns go to the catalog's
# side files); the folder moved elsewhere keeps the catalog readable from any
# working folder; a sample store replaced under its name (as nightly does)
# leaves the old catalog reading the old events, a failed re-catalog too, and
# a new catalog removes the part it no longer names once it is in place;
# where hard links are impossible the parts are copies and the summary says
# so; stores of another precision do not mix.
source "$(dirname "$0")/catalog_common.sh"
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out cat1.h5 "${samples[@]}" >/dev/null || fail "catalog"
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out cat2.h5 "${samples[@]}" >/dev/null || fail "catalog"
# weight, derive and select on a catalog give what they give on the ingest
# (derived columns go to the catalog's side files; the catalog is not written).
for s in all cat2; do
  timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" weight --in $s.h5 --lumi 10 >/dev/null 2>&1 || fail "weight on $s.h5"
  timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" derive --in $s.h5 >/dev/null || fail "derive on $s.h5"
  timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" select --in $s.h5 --channel chan1 --out sel_$s.h5 --cutflow cf_$s.json >/dev/null || fail "select on $s.h5"
done
"$PYTHON" - <<'PY' || fail "weight, derive or select on the catalog differ from the ingest's"
import h5py, json, numpy as np
a, c = h5py.File("all.h5", "r"), h5py.File("cat2.h5", "r")
assert sorted(a["derived"]) == sorted(c["derived"]) and "weight" in c["derived"] and "ht" in c["derived"]
for k in a["derived"]:
    assert np.array_equal(a["derived"][k][()], c["derived"][k][()], equal_nan=True), k
sa, sc = h5py.File("sel_all.h5", "r"), h5py.File("sel_cat2.h5", "r")
names = []
sa.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
assert len(names) >= 14
for n in names:
    x, y = sa[n][()], sc[n][()]
    assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), n
ja, jc = json.load(open("cf_all.json")), json.load(open("cf_cat2.json"))
for k in ("weight_source", "events_in", "events_selected", "cuts", "totals", "processes"):
    assert ja[k] == jc[k], k
assert ja["events_selected"] > 0 and ja["weight_source"] == "derived/weight"
PY

# The work folder moved elsewhere: the catalog still reads, from any folder.
mkdir -p moved/deep
mv cat2.h5 cat2.parts cat2.derived-* moved/deep/
(cd / && "$PYTHON" - "$tmp/all.h5" "$tmp/moved/deep/cat2.h5" <<'PY') || fail "h5py after moving the catalog"
import sys, h5py, numpy as np
a, c = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
for n in ("events/event_id", "objects/pt", "events/met"):
    assert np.array_equal(a[n][()], c[n][()]), n
assert np.array_equal(a["derived/ht"][()], c["derived/ht"][()])
PY
(cd / && timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" export --in "$tmp/moved/deep/cat2.h5" --out "$tmp/moved.csv" >/dev/null) || fail "export after moving the catalog"
cmp -s all.csv moved.csv || fail "export after moving the catalog differs"

# A sample store replaced under its name (as nightly re-ingests a changed
# sample): the old catalog still reads the old events through its own part.
old_part=$(ls cat1.parts/s_ttbar-*.h5)
timeout 60 "$DMPIPE" ingest --out s_ttbar.h5 archive2/ttbar.csv >/dev/null
same all.h5 cat1.h5 || fail "the old catalog changed when a sample store was replaced"
# A re-catalog that fails after making the new part leaves the old catalog
# and its parts as they were, and takes its own new part away again.
rc=0; timeout 60 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out cat1.h5 "${samples[@]}" archive/ttbar.csv >out.txt 2>err.txt || rc=$?
[[ $rc == 1 ]] || fail "a re-catalog with a bad input succeeded: $(cat err.txt)"
same all.h5 cat1.h5 || fail "a failed re-catalog changed the old catalog"
[[ -e $old_part && $(ls cat1.parts | wc -l) == 4 && $(ls cat1.parts/s_ttbar-*.h5) == "$old_part" ]] ||
  fail "a failed re-catalog changed the parts: $(ls cat1.parts)"
# The re-catalog: the new part in, the old one out once the new catalog is
# in place; it equals one ingest of the new set.
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out cat1.h5 "${samples[@]}" >out.txt || fail "re-catalog"
grep -q "parts: 1 linked, 0 copied, 3 kept, 1 removed" out.txt || fail "re-catalog: $(cat out.txt)"
[[ ! -e $old_part && $(ls cat1.parts | wc -l) == 4 ]] || fail "re-catalog: the old part is still there: $(ls cat1.parts)"
timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" ingest --out all2.h5 archive/Zp_01.csv archive/gluino_01.csv archive2/ttbar.csv archive/w_jets.csv >/dev/null
same all2.h5 cat1.h5 || fail "the new catalog differs from one ingest of the new samples"

# Where hard links are impossible (the catalog on another file system than
# its samples), the parts are copies and the summary says so.
if [[ -d /dev/shm && $(stat -c %d /dev/shm) != $(stat -c %d .) ]]; then
  shm=$(mktemp -d /dev/shm/dmpipe-catalog-test.XXXXXX)
  trap 'rm -rf "$shm"' EXIT
  timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out "$shm/c.h5" "${samples[@]}" >out.txt 2>err.txt || fail "catalog on another file system: $(cat err.txt)"
  grep -q "parts: 0 linked, 4 copied" out.txt && grep -q "4 parts of .*copied, not hard-linked" err.txt ||
    fail "copies not reported: $(cat out.txt err.txt)"
  same all2.h5 "$shm/c.h5" || fail "the catalog of copies differs"
  timeout 120 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out "$shm/c.h5" "${samples[@]}" >out.txt || fail "catalog of copies again"
  grep -q "parts: 0 linked, 0 copied, 4 kept, 0 removed" out.txt || fail "copies not kept: $(cat out.txt)"
else
  echo "note: /dev/shm is on this file system: the copy fallback is not exercised"
fi

# Stores of another precision do not mix.
timeout 60 "$DMPIPE" ingest --out d_ttbar.h5 --precision double archive/ttbar.csv >/dev/null
rc=0; timeout 60 "$MPIEXEC" -n 2 "$DMPIPE" catalog --out mix.h5 s_w_jets.h5 d_ttbar.h5 >out.txt 2>err.txt || rc=$?
[[ $rc == 1 ]] && grep -q "d_ttbar.h5 is double precision" err.txt || fail "precision mix: $rc $(cat err.txt)"
[[ ! -e mix.h5 && ! -e mix.parts ]] || fail "a failed catalog left its parts"
echo "catalog ok"
