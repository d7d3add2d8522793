#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole CTest suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
krrdistill_install_missing
krrdistill_build "$root/build"
cd "$root/build"
ctest --output-on-failure -j1 "$@"
