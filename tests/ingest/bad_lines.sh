#!/usr/bin/env bash
# Every kind of bad line is rejected with its reason and line number, the
# rejects file holds it verbatim (a line over 1 MiB cut to 4096 bytes plus
# its length), for 1 and 3 ranks alike; above --max-bad-fraction the run
# fails on every rank, leaves no store, and keeps the rejects file.
source "$(dirname "$0")/common.sh"
"$PYTHON" "$here/make_bad_csv.py" bad.csv expected.tsv
for np in 1 3; do
  run $np ingest --out ok$np.h5 --rejects rej$np.tsv --stripe-kb 64 --max-bad-fraction 0.01 \
      --json rep$np.json bad.csv > ok$np.log
  grep -v '^#' rej$np.tsv > got$np.tsv
  if ! cmp -s got$np.tsv expected.tsv; then
    echo "rejects on $np ranks differ from the expected ones:" >&2
    diff got$np.tsv expected.tsv | cut -c1-200 >&2
    exit 1
  fi
  "$PYTHON" - rep$np.json <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
want = {"field-count": 3, "number": 1, "non-finite": 2, "object-code": 1, "empty-process": 1,
        "truncated": 1, "too-long": 1, "too-many-objects": 1}
got = {k: v for k, v in j["rejected_by_reason"].items() if v}
assert got == want, got
assert j["events"] == 2990 and j["lines"] == 3001, j
PY
  grep -q "too-many-objects *1" ok$np.log
done
cmp ok1.h5 ok1.h5
"$PYTHON" "$here/compare_stores.py" ok1.h5 ok3.h5

# Default fraction (1e-6): fails on every rank, no store under either name.
expect_fail "lines rejected" run 3 ingest --out fail.h5 --rejects failrej.tsv --stripe-kb 64 bad.csv
[[ ! -e fail.h5 && ! -e fail.h5.tmp ]] || { echo "store left behind" >&2; exit 1; }
grep -q "too-long" fail.out
grep -v '^#' failrej.tsv | cmp - expected.tsv
