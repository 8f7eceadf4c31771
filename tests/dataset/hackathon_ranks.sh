# dataset hackathon on 1, 2 and 3 ranks (and small rounds): CSV files and
# manifest byte-identical (stores: identical datasets; only their checksums,
# which cover the creation time, may differ), and every file as an
# independent numpy computation from the parent store predicts: luminosity,
# counts per process by the rounding rule, the seeded draw, shuffle and split,
# signals and their weights.
source "$(dirname "$0")/common.sh"
make_store
# The same command line (relative paths) in each folder, as the manifest
# records it; rounds of 50 events per rank cut every file into many pieces.
for np in 1 2 3; do
  mkdir -p "r$np"
  set_run $np
  (cd "r$np" && timeout 300 "${run[@]}" dataset hackathon --in ../store.h5 \
     --out ds --channels chan1,chan2b,chan3 --seed 42 --quiet --batch 50)
done
timeout 300 "$MPIEXEC" -n 2 "$DMPIPE" dataset hackathon --in store.h5 --out big \
  --channels chan1,chan2b,chan3 --seed 42 --quiet
check same r1/ds r2/ds
check same r1/ds r3/ds
check same r1/ds big --ignore-command-line
check hackathon store.h5 r1/ds 42 0.9 bsm max chan1 chan2b chan3
test ! -e r1/ds/selection_chan3.h5 && test -e r1/ds/cutflow_chan3.json
# An explicit luminosity, train fraction and signal list.
"$DMPIPE" dataset hackathon --in store.h5 --out fixed --channels chan3 --lumi 0.05 \
  --train-fraction 0.75 --seed 3 --signals Zp_01 --quiet
check hackathon store.h5 fixed 3 0.75 Zp_01 0.05 chan3
# Weights from dmpipe weight at another luminosity (5 fb^-1, lumi_fb recorded)
# describe the same physics: the same background, and signal weights equal to
# the archive's 6 printed digits.
cp store.h5 w5.h5
"$DMPIPE" weight --in w5.h5 --lumi 5 --quiet
"$DMPIPE" dataset hackathon --in w5.h5 --out w5 --channels chan2b,chan3 --seed 42 --quiet
"$PYTHON" - <<'PY'
import glob, json, os
m = json.load(open("w5/manifest.json"))
for ch in ("chan2b", "chan3"):
    c = m["channels"][ch]
    assert c["weight_source"] == "derived/weight" and c["weight_lumi_fb"] == 5, c
for path in glob.glob("w5/*.csv"):
    ref = os.path.join("r1/ds", os.path.basename(path))
    a, b = open(path).read().splitlines(), open(ref).read().splitlines()
    assert len(a) == len(b), path
    for x, y in zip(a, b):
        fx, fy = x.split(";"), y.split(";")
        assert fx[:2] == fy[:2] and fx[3:] == fy[3:], (path, x[:60], y[:60])
        wx, wy = float(fx[2]), float(fy[2])
        assert abs(wx - wy) <= 5e-6 * wy, (path, wx, wy)
print("derived weights at 5 fb^-1: same dataset")
PY
