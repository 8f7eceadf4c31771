# The real-physics sample: every channel selects exactly the events a numpy
# re-implementation of the channel selects, derived columns match numpy, and
# cutflow totals equal the selected stores' counts.
source "$(dirname "$0")/common.sh"
for f in "$DM_FIXTURES"/pythia-sample/*.csv.zst; do
  zstd -qdf "$f" -o "$(basename "${f%.zst}")"
done
mkstore sample.h5 ./*.csv
"$MPIEXEC" -n 2 "$DMPIPE" weight --in sample.h5 --lumi 10 --allow-unknown --quiet
for c in chan1 chan2a chan2b chan3; do
  "$MPIEXEC" -n 2 "$DMPIPE" select --in sample.h5 --channel "$c" --out "$c.h5" \
    --cutflow "$c.json" --quiet
  check channel sample.h5 "$c.h5" "$c" | cut -c1-80
  check cutflow "$c.json" "$c.h5"
done
check derived chan1.h5
echo "select_sample ok"
