#!/usr/bin/env bash
# Golden round trip: CSV -> store -> CSV. The store is checked against an
# independent Python parse of the inputs (and the input checksums against
# libxxhash), the export against the input number by number.
source "$(dirname "$0")/common.sh"
mapfile -t inputs < <(sample)
run 2 ingest --out sample.h5 --json ingest.json "${inputs[@]}"
"$PYTHON" "$here/csv_vs_store.py" sample.h5 single "${inputs[@]}"
run 3 export --in sample.h5 --out back.csv
cat "${inputs[@]}" > all.csv
"$PYTHON" "$here/csv_numeric_equal.py" all.csv back.csv
# The sample is printed exactly as export prints it: byte for byte.
cmp all.csv back.csv
run 1 export --in sample.h5 --out back1.csv --no-trailing-semicolon
"$PYTHON" "$here/csv_numeric_equal.py" all.csv back1.csv
if grep -q ';$' back1.csv; then echo "trailing ';' left" >&2; exit 1; fi

# Every accepted spelling (no trailing ';', CRLF, legacy codes, exponents),
# small stripes, 3 ranks.
"$PYTHON" "$here/make_edge_csv.py" edge.csv 5000 7
run 3 ingest --out edge.h5 --stripe-kb 16 --chunk-events 500 edge.csv > edge.log
"$PYTHON" "$here/csv_vs_store.py" edge.h5 single edge.csv
run 2 export --in edge.h5 --out edge_back.csv
"$PYTHON" "$here/csv_numeric_equal.py" edge.csv edge_back.csv

# Nine significant digits: float32 cannot keep them (counted and reported),
# --precision double keeps every number exactly.
"$PYTHON" "$here/make_edge_csv.py" digits.csv 3000 11 digits 9
run 2 ingest --out d32.h5 --json d32.json digits.csv > d32.log
"$PYTHON" -c "import json,sys; j=json.load(open('d32.json')); sys.exit(0 if j['inexact_float32_values'] > 1000 else 'inexact values not counted: %s' % j)"
run 2 ingest --out d64.h5 --precision double --json d64.json digits.csv > d64.log
"$PYTHON" "$here/csv_vs_store.py" d64.h5 double digits.csv
run 3 export --in d64.h5 --out d64.csv
"$PYTHON" "$here/csv_numeric_equal.py" digits.csv d64.csv

# The synthetic archive of dmpipe generate, all its files at once.
run 2 generate --out gen --events 20000 --seed 5 > gen.log
mapfile -t gen < <(ls gen/*.csv | LC_ALL=C sort)
run 3 ingest --out gen.h5 --stripe-kb 128 "${gen[@]}" > gen_ingest.log
"$PYTHON" "$here/csv_vs_store.py" gen.h5 single "${gen[@]}"
run 2 export --in gen.h5 --out gen_back.csv
cat "${gen[@]}" > gen_all.csv
"$PYTHON" "$here/csv_numeric_equal.py" gen_all.csv gen_back.csv

# info reads the store back: counts, processes and provenance.
run 2 info sample.h5 > info.txt
run 1 info sample.h5 --json > info.json
"$PYTHON" - "${#inputs[@]}" <<'PY'
import json, sys
j = json.load(open("info.json"))
ing = json.load(open("ingest.json"))
assert j["events"] == ing["events"] == 27000, (j["events"], ing["events"])
assert j["objects"] == ing["objects"]
assert len(j["processes"]) == 16 and sum(p["events"] for p in j["processes"]) == 27000
assert j["inputs"].count("\n") == int(sys.argv[1]), j["inputs"]
assert "ingest --out sample.h5" in j["command_line"]
assert j["source_bytes"] == ing["input_bytes"] and 1 < j["compression_ratio"] < 10
assert j["bytes_on_disk"] < 0.40 * j["source_bytes"], "store above 40% of the CSV"
print("ok: info agrees with the ingest report")
PY
grep -q "ttbar  *2000" info.txt
