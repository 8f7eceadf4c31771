#!/usr/bin/env bash
# The test command: install everything (Python peers included), build, and run
# the whole CTest suite; then the sanitizer build (ASan + UBSan, clang) with
# its fast tests, fuzzers and a short demo chain (tests/sanitize.sh). Exit
# status: 0 when both passed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/jobs/setup.sh" --peers
cd "$here/build"
status=0
ctest --output-on-failure -j "$(nproc)" "$@" || status=1
bash "$here/tests/sanitize.sh" || status=1
exit $status
