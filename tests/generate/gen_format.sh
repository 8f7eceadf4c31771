#!/bin/bash
# Format validity, counts and weights of generated archives, checked by the
# independent reader check_archive.py against data/processes.csv.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T"
TABLE=$DM_SOURCE_DIR/data/processes.csv
CHECK="$PYTHON $HERE/check_archive.py"

# Every process with a known cross section, one rank, default options.
$DMPIPE generate --out "$T/all" --events 20000 --seed 5 --json "$T/all.json" --quiet
$CHECK "$T/all" --table "$TABLE" --events 20000 --processes all --json "$T/all.json" --bad-rate 0

# Two ranks, no trailing semicolon, another luminosity, a mixed selection
# (an alias-free name list plus a kind), small blocks.
$MPIEXEC -n 2 $DMPIPE generate --out "$T/mix" --events 5000 --processes bsm,ttbar,2gam \
  --no-trailing-semicolon --lumi 7.5 --block 300 --json "$T/mix.json" --quiet
$CHECK "$T/mix" --table "$TABLE" --events 5000 --processes bsm,ttbar,2gam --lumi 7.5 \
  --no-trailing-semicolon --json "$T/mix.json" --bad-rate 0

# A user's own table (--xsec): corrected ttbar cross section, and a challenge
# signal whose cross section the user filled in.
sed -e 's/^ttbar,sm,541,/ttbar,sm,830.5,/' \
    -e 's/^monojet_Zp2000.0_DM_50.0,bsm,unknown,/monojet_Zp2000.0_DM_50.0,bsm,0.25,/' \
    "$TABLE" > "$T/mytable.csv"
grep -q '^ttbar,sm,830.5,' "$T/mytable.csv"
$MPIEXEC -n 3 $DMPIPE generate --out "$T/own" --events 3000 --xsec "$T/mytable.csv" \
  --processes ttbar,monojet_Zp2000.0_DM_50.0,njets --json "$T/own.json" --quiet
$CHECK "$T/own" --table "$T/mytable.csv" --events 3000 \
  --processes ttbar,monojet_Zp2000.0_DM_50.0,njets --json "$T/own.json" --bad-rate 0
# Weight of ttbar typed in by hand: 830.5 pb x 10 fb^-1 x 1000 / lines.
n=$(wc -l < "$T/own/ttbar.csv")
w=$(head -1 "$T/own/ttbar.csv" | cut -d';' -f3)
$PYTHON -c "import sys; n=$n; w=float('$w'); sys.exit(0 if abs(w-8305000.0/n) < 1e-5*w else 1)"

# The checker itself must be able to fail: tamper with copies.
cp -r "$T/all" "$T/bad1"
sed -i '3s/^\([0-9]*;[^;]*;\)[^;]*;/\11.5;/' "$T/bad1/ttbar.csv"
if $CHECK "$T/bad1" --table "$TABLE" --events 20000 > "$T/bad1.out"; then
  echo "checker accepted a wrong weight"; exit 1
fi
grep -q "weight" "$T/bad1.out"
cp -r "$T/all" "$T/bad2"
# Swap the first two objects of the first ttbar line with at least two.
$PYTHON - "$T/bad2/ttbar.csv" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().split("\n")
for i, l in enumerate(lines):
    f = l.split(";")
    objs = [x for x in f[5:] if x]
    if len(objs) >= 2 and objs[0].split(",")[2] != objs[1].split(",")[2]:
        f[5], f[6] = f[6], f[5]
        lines[i] = ";".join(f)
        break
open(p, "w").write("\n".join(lines))
PY
if $CHECK "$T/bad2" --table "$TABLE" --events 20000 > "$T/bad2.out"; then
  echo "checker accepted unordered objects"; exit 1
fi
grep -q "pT-ordered" "$T/bad2.out"
echo "generate_format: ok"
