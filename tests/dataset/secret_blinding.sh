# dataset secret on 1, 2 and 3 ranks: the unlabeled CSV and the datasets of
# the unlabeled store and labels identical; composition (floor(MU mu + 1/2)
# per signal, the rule per background process, decoys a fraction F), order,
# labels and decoys exactly as an independent computation predicts; blinding:
# constant process and weight, IDs 1..N, the labels' SHA-256 in the store,
# the injection absent from the store's command line, and the ID (= order) and
# the digits of the angles carrying no label information (AUC within 4
# standard deviations of 0.5 for the sample sizes at hand). Then --exclude: a
# secret set shares no event with a hackathon set of the same store.
source "$(dirname "$0")/common.sh"
make_store
inject=gluino_03=1000,stop_02=3
for np in 1 2 3; do
  mkdir -p "r$np"
  set_run $np
  (cd "r$np" && timeout 300 "${run[@]}" dataset secret --in ../store.h5 \
     --out sec --channel chan2b --lumi 0.04 --inject $inject --decoys 0.3 --seed 9 \
     --quiet --batch 50)
done
check same r1/sec r2/sec
check same r1/sec r3/sec
check secret store.h5 r1/sec 9 chan2b 0.04 0.3 ${inject//,/ }
# No seed: one is drawn, so two runs differ (and the labels record it).
"$DMPIPE" dataset secret --in store.h5 --out rnd1 --channel chan2b --lumi 0.04 --inject $inject --quiet
"$DMPIPE" dataset secret --in store.h5 --out rnd2 --channel chan2b --lumi 0.04 --inject $inject --quiet
! cmp -s rnd1/unlabeled_chan2b.csv rnd2/unlabeled_chan2b.csv
# Independence from a hackathon set of the same store.
"$DMPIPE" dataset hackathon --in store.h5 --out hack --channels chan2b --lumi 0.02 \
  --signals Zp_01 --seed 1 --quiet
timeout 300 "$MPIEXEC" -n 2 "$DMPIPE" dataset secret --in store.h5 --out ex --channel chan2b \
  --lumi 0.04 --inject $inject --exclude hack/manifest.json --seed 9 --quiet
check exclude hack ex chan2b
