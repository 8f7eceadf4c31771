# A round read in pieces of a few objects (--piece-objects) selects exactly
# what the default (a round in one piece here) selects: the same SEL.h5
# (every dataset, the derived columns carried over) and the same cutflow
# JSON, on np 1, 2 and 3, for a single- and a double-precision store. Pieces
# of 1 object make every event with objects a piece of its own (an event with
# more objects than the bound is one piece); the ranks then need different
# numbers of pieces in a round, so the ones with fewer take part in the
# others' reads with nothing to read.
source "$(dirname "$0")/common.sh"
"$PYTHON" "$here/make_events.py" 900 23 > ev.csv
mkstore ev.h5 ev.csv
"$MPIEXEC" -n 2 "$DMPIPE" weight --in ev.h5 --lumi 10 --xsec "$here/xsec_test.csv" \
  --allow-unknown --quiet
xs=(--xsec "$here/xsec_test.csv" --quiet)
# sel NP STORE NAME SELECTION... [options]: select into NAME.h5 and NAME.json.
sel() {
  local np=$1 st=$2 name=$3
  shift 3
  "$MPIEXEC" -n $np "$DMPIPE" select --in $st.h5 --out $name.h5 --cutflow $name.json "${xs[@]}" "$@"
}
# The references: one rank, the default piece, one round of every event.
sel 1 ev ref --channel chan3
sel 1 ev uref --cuts "$here/edges_cuts.ini"
outs=()
for np in 1 2 3; do
  sel $np ev c$np.1 --channel chan3 --piece-objects 1 --batch 100000
  sel $np ev c$np.13 --channel chan3 --piece-objects 13 --batch 50
  outs+=(c$np.1 c$np.13)
done
check same ref.h5 $(printf '%s.h5 ' "${outs[@]}")
for o in "${outs[@]}"; do cmp ref.json $o.json; done
sel 3 ev u3.1 --cuts "$here/edges_cuts.ini" --piece-objects 1 --batch 100000
sel 2 ev u2.5 --cuts "$here/edges_cuts.ini" --piece-objects 5 --batch 7
check same uref.h5 u3.1.h5 u2.5.h5
cmp uref.json u3.1.json
cmp uref.json u2.5.json
# The reference against an independent recomputation of the channel.
check channel ev.h5 ref.h5 chan3 | cut -c1-80
check cutflow ref.json ref.h5
# Double precision: the double copies go through the pieces too.
if "$DMPIPE" ingest --help >/dev/null 2>&1; then
  "$DMPIPE" ingest --precision double --out evd.h5 ev.csv > /dev/null
  sel 1 evd dref --channel chan3
  sel 2 evd d2.1 --channel chan3 --piece-objects 1 --batch 100000
  sel 3 evd d3.7 --channel chan3 --piece-objects 7 --batch 50
  check same dref.h5 d2.1.h5 d3.7.h5
  cmp dref.json d2.1.json
  cmp dref.json d3.7.json
fi
# A piece of no objects is a usage error (exit 2), on every rank.
set +e
"$MPIEXEC" -n 2 "$DMPIPE" select --in ev.h5 --channel chan3 --out bad.h5 --piece-objects 0 \
  > bad.log 2>&1
rc=$?
set -e
test $rc = 2 || { echo "FAIL: --piece-objects 0 exited $rc"; cat bad.log; exit 1; }
grep -q -- "--piece-objects" bad.log
test ! -e bad.h5
echo "select_pieces ok"
