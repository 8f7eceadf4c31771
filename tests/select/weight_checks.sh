# Files holding exactly the 10 fb^-1 counts get weight 1 at --lumi 10 (and
# 2 at --lumi 20); weight replaces its column atomically, keeping the other
# derived columns; an unknown process fails without touching any file.
source "$(dirname "$0")/common.sh"
for i in 1 2 3 4 5; do echo "$i;ten_a;9;100000;0;j,700000,700000,0,0"; done > ten_a.csv
for i in 6 7 8 9; do echo "$i;ten_b;9;20000;0;e-,30000,30000,0,0"; done > ten_b.csv
mkstore ten.h5 ten_a.csv ten_b.csv
"$MPIEXEC" -n 3 "$DMPIPE" derive --in ten.h5 --quiet
"$MPIEXEC" -n 2 "$DMPIPE" weight --in ten.h5 --lumi 10 --xsec "$here/xsec_test.csv" \
  --json w10.json --quiet
check weights ten.h5 ten_a=1 ten_b=1
check derived ten.h5
"$DMPIPE" weight --in ten.h5 --lumi 20 --xsec "$here/xsec_test.csv" --quiet
check weights ten.h5 ten_a=2 ten_b=2
check derived ten.h5
"$PYTHON" - <<'PY'
import json, h5py
j = json.load(open("w10.json"))
assert j["lumi_fb"] == 10 and [p["weight"] for p in j["processes"]] == [1, 1], j
g = h5py.File("ten.h5", "r")["derived/weight"]
assert g.attrs["lumi_fb"] == 20 and len(g.attrs["xsec_checksum"]) == 32
print("weight attributes ok")
PY
# A store with a process the table lacks: error naming it; side files untouched.
echo "10;not_in_table;1;1000;0" > unk.csv
mkstore mix.h5 ten_a.csv unk.csv
"$DMPIPE" derive --in mix.h5 --quiet
sum0=$(md5sum mix.derived-*)
expect_fail u.log "not_in_table" "$MPIEXEC" -n 2 "$DMPIPE" weight --in mix.h5 --lumi 10 --xsec "$here/xsec_test.csv"
test "$(md5sum mix.derived-*)" = "$sum0"
"$DMPIPE" weight --in mix.h5 --lumi 10 --xsec "$here/xsec_test.csv" --allow-unknown --quiet
check weights mix.h5 ten_a=1 not_in_table=nan
check derived mix.h5
# Bad flags are usage errors (status 2) naming the flag.
set +e
"$DMPIPE" weight --in ten.h5 --lumi -1 2>u2.log; rc=$?
set -e
test $rc -eq 2 && grep -q -- "--lumi" u2.log
echo "weight_checks ok"
