# dmpipe report of the challenge protocol (as jobs/demo.sh runs it, small):
# generate SM processes and two signals -> ingest -> dataset hackathon of
# chan2b -> train kde on the training part -> score the test part and each
# signal file -> metrics of the parts -> report. The page must show one
# section per channel of the manifest (no section per store, the parent store
# a line), with loaded ROC and SI images in it and no console error; the
# signal normalisation of the distributions is checked against the
# manifest's expected counts.
set -euo pipefail
: "${DMPIPE:?}" "${MPIEXEC:?}" "${DM_TEST_TMP:?}" "${PYTHON:?}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rm -rf "$DM_TEST_TMP"
mkdir -p "$DM_TEST_TMP/run"
W=$DM_TEST_TMP/run
cd "$W"
export MPLCONFIGDIR=$DM_TEST_TMP/mplconfig
mkdir -p "$MPLCONFIGDIR"
mpi() { local n=$1; shift; timeout 300 "$MPIEXEC" -n "$n" "$DMPIPE" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

mpi 2 generate --out archive --events 200000 --seed 3 --processes ttbar,wtop,ww,Zp_01,stop_02 \
    --no-progress >/dev/null
mpi 2 ingest --out store.h5 --no-progress archive/*.csv >/dev/null
rm -rf archive
mpi 2 dataset hackathon --in store.h5 --out hack --channels chan2b --signals Zp_01,stop_02 \
    --seed 1 >/dev/null
train=$(ls hack/background_chan2b_*_train.h5)
test=$(ls hack/background_chan2b_*_test.h5)
mpi 2 train kde --in "$train" --out kde.h5 --max-train 2000 --seed 1 --no-progress >/dev/null
args=()
for p in "$test" hack/Zp_01_chan2b.h5 hack/stop_02_chan2b.h5; do
  b=$(basename "$p" .h5)
  mpi 2 score --model kde.h5 --in "$p" --out "kde.$b.scores.h5" --channel chan2b --quiet \
      --no-progress
  args+=(--scores "chan2b=kde.$b.scores.h5")
done
mpi 2 metrics "${args[@]}" --json kde.metrics.json >/dev/null

mpi 2 report --in "$W" --out "$W/report"
"$PYTHON" "$here/check_page.py" "$W/report/index.html" "$DM_TEST_TMP/shot.png" --min-images 12 \
    --expect "Channel chan2b" --expect "dmpipe dataset hackathon" --expect "Model kde" \
    --expect "ROC: signal efficiency" --expect "Significance improvement" \
    --expect "two_leptons_pt15" --expect "kde.metrics.json" --expect "store.h5" \
    --reject "Channel all" --reject "No scores file" \
    --section-image "ch-chan2b=_kde_roc.png" --section-image "ch-chan2b=_kde_si.png" \
    --section-image "ch-chan2b=_kde_scores.png" --section-image "ch-chan2b=_chan2b_met.png"
[[ $(grep -c '<h2 id="ch-' "$W/report/index.html") -eq 1 ]] || fail "more than one channel section"

# The stacked distributions hold the parts' histograms (data/hist_*.h5):
# background = train + test events; a signal's weights x 1000 L = the
# manifest's expected events of that signal.
"$PYTHON" - "$W/hack/manifest.json" "$W/report/data" <<'PY'
import glob, json, os, sys
import h5py
man = json.load(open(sys.argv[1]))
ch = man["channels"]["chan2b"]
lumi = ch["lumi_fb"]
bkg, sig = 0.0, {}
for p in glob.glob(os.path.join(sys.argv[2], "hist_*.h5")):
    with h5py.File(p, "r") as f:
        for g in f["histograms"].values():
            h = g["n_jets"]  # a count: every event lands inside the range
            for name, w in zip(h["process_names"][...], h["sumw"][...]):
                name = name.decode()
                if name in ch["signal_expected"]:
                    sig[name] = sig.get(name, 0.0) + w.sum() * 1000 * lumi
                else:
                    bkg += w.sum()
assert abs(bkg - ch["background_events"]) < 1e-6, (bkg, ch["background_events"])
for name, mu in ch["signal_expected"].items():
    assert abs(sig[name] - mu) < 1e-6 * max(1.0, mu), (name, sig[name], mu)
print("report hackathon: background", bkg, "signals", sig)
PY
echo "report hackathon checks passed"
