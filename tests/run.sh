#!/usr/bin/env bash
# The test command: install everything (Python peers included), build, and run
# the whole CTest suite. Exit status is CTest's.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bash "$here/jobs/setup.sh" --peers
cd "$here/build"
ctest --output-on-failure -j "$(nproc)" "$@"
