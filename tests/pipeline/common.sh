# Shared by the pipeline tests: a scratch folder, a small archive made by
# dmpipe generate, and run.json readers.
set -euo pipefail
tmp=${DM_TEST_TMP:?}
rm -rf "$tmp"; mkdir -p "$tmp"
cd "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }
# states FILE: "name=state" per step, sorted
states() { "$PYTHON" -c '
import json, sys
for s in json.load(open(sys.argv[1]))["steps"]: print(s["name"] + "=" + s["state"])' "$1" | sort; }
# names_in STATE FILE: the steps in that state, space-separated, sorted
names_in() { "$PYTHON" -c '
import json, sys
print(" ".join(sorted(s["name"] for s in json.load(open(sys.argv[2]))["steps"] if s["state"] == sys.argv[1])))' "$1" "$2"; }
expect_eq() { [[ "$2" == "$3" ]] || fail "$1: expected [$3], got [$2]"; }
