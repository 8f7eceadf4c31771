#!/bin/bash
# Injected bad lines: the counts generate reports (table and JSON) equal what
# the independent classifier finds, every kind occurs, the too-long rule
# holds, and the good lines around them stay valid.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
T=$DM_TEST_TMP
rm -rf "$T" && mkdir -p "$T"
TABLE=$DM_SOURCE_DIR/data/processes.csv
CHECK="$PYTHON $HERE/check_archive.py"
$MPIEXEC -n 2 $DMPIPE generate --out "$T/a" --events 30000 --bad-rate 0.2 --seed 3 \
  --json "$T/a.json" > "$T/a.txt"
$CHECK "$T/a" --table "$TABLE" --events 30000 --processes all --json "$T/a.json" \
  --bad-rate 0.2 --require-all-kinds
# The printed table carries the same totals as the JSON file.
$PYTHON - "$T/a.json" "$T/a.txt" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
txt = open(sys.argv[2]).read().split("\n")
total = [l for l in txt if l.startswith("total")][0].split()
kinds = ["field-count", "number", "non-finite", "object-code", "empty-process", "truncated",
         "too-long"]
want = [sum(p["bad"][k] for p in rep["processes"]) for k in kinds]
got = [int(x) for x in total[-7:]]
assert got == want, (got, want)
assert int(total[1]) == rep["events"] == 30000
print("printed totals match:", dict(zip(kinds, got)))
PY
$DMPIPE generate --out "$T/b" --events 8000 --bad-rate 0.3 --seed 4 --processes sm \
  --no-trailing-semicolon --json "$T/b.json" --quiet
$CHECK "$T/b" --table "$TABLE" --events 8000 --processes sm --json "$T/b.json" \
  --bad-rate 0.3 --no-trailing-semicolon
echo "generate_bad_lines: ok"
