# Every channel on hand-written events that sit exactly on each cut's edge
# (expected event lists worked out by hand in edges_expected.json); the cut
# files equal the built-in channels; derived columns checked by numpy; cutflow
# totals equal the selected stores' counts; bad input fails cleanly.
source "$(dirname "$0")/common.sh"
mkstore edges.h5 "$here/edges.csv"
for c in chan1 chan2a chan2b chan3; do
  "$MPIEXEC" -n 2 "$DMPIPE" select --in edges.h5 --channel "$c" --out "$c.h5" \
    --cutflow "$c.json" --quiet
  check expected "$c.h5" "$here/edges_expected.json" "$c"
  check derived "$c.h5"
  check cutflow "$c.json" "$c.h5"
  # The shipped cut file selects the same events and writes the same data.
  "$DMPIPE" select --in edges.h5 --cuts "$DM_SOURCE_DIR/data/cuts/$c.ini" --out "f_$c.h5" \
    --cutflow "f_$c.json" --quiet
  check same "$c.h5" "f_$c.h5"
  cmp "$c.json" "f_$c.json"
done
"$DMPIPE" select --in edges.h5 --cuts "$here/edges_cuts.ini" --out e.h5 --quiet
check expected e.h5 "$here/edges_expected.json" edges
"$DMPIPE" select --in edges.h5 --cuts "$DM_SOURCE_DIR/data/cuts/example.ini" --out x.h5 --quiet
check expected x.h5 "$here/edges_expected.json" example
# Parent derived columns on 3 ranks, checked by numpy; select never writes
# next to its input, so the parent's index (made by ingest) is still empty.
test "$(n_derived edges.h5)" = 0 && test "$(side_files edges | wc -l)" = 1
"$MPIEXEC" -n 3 "$DMPIPE" derive --in edges.h5 --batch 2 --quiet
check derived edges.h5
# Provenance: parent checksum (xxh3-128 of the parent file) and the cuts.
"$PYTHON" - <<'PY'
import h5py, json
f = h5py.File("chan1.h5", "r")
a = f.attrs
assert a["parent"].decode() == "edges.h5", a["parent"]
assert len(a["parent_checksum"]) == 32
assert b"[cut met_over_ht]" in a["selection"] and a["selection_name"] == b"chan1"
assert json.load(open("chan1.json"))["input_checksum"] == a["parent_checksum"].decode()
print("provenance ok")
PY
# Errors: each names the culprit, exits non-zero on every rank, leaves nothing.
expect_fail e1.log "chan9" "$DMPIPE" select --in edges.h5 --channel chan9 --out bad.h5
printf '[cut a]\nvariable = ht\nop = >=\nvalue = 1\nbogus = 2\n' > bad.ini
expect_fail e3.log "bad.ini:5:" "$MPIEXEC" -n 2 "$DMPIPE" select --in edges.h5 --cuts bad.ini --out bad.h5
expect_fail e4.log "missing.h5" "$MPIEXEC" -n 2 "$DMPIPE" select --in missing.h5 --channel chan1 --out bad.h5
expect_fail e5.log "exactly one" "$DMPIPE" select --in edges.h5 --channel chan1 --cuts bad.ini --out bad.h5
test ! -e bad.h5 && test ! -e bad.h5.tmp && test -z "$(side_files bad)"
echo "select_edges ok"
