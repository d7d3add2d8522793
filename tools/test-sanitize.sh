#!/usr/bin/env bash
# The whole CTest suite under AddressSanitizer and UndefinedBehaviorSanitizer
# (-DKRRDISTILL_SANITIZE=ON, gcc) in build-asan/. Every process, the tests and
# the krrdistill runs they start, logs its sanitizer reports to
# build-asan/sanitizer-reports/; the run fails on a failed test or on any report.
#   tools/test-sanitize.sh [ctest arguments]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
# gcc's ASan and UBSan runtimes (libasan, libubsan) come with g++.
krrdistill_install_missing
build="$root/build-asan"
krrdistill_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKRRDISTILL_SANITIZE=ON

reports="$build/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error: a report ends the process, so the test that started it fails.
# LeakSanitizer is on (the ASan default on Linux); its one suppression,
# tools/lsan.supp, is fontconfig's own process-lifetime allocations (cairo text).
export LSAN_OPTIONS="suppressions=$root/tools/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="log_path=$reports/asan:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:halt_on_error=1:print_stacktrace=1"
cd "$build"
status=0
ctest --output-on-failure -j1 "$@" || status=$?
if [ -n "$(ls -A "$reports")" ]; then
  echo "sanitizer reports:" >&2
  for f in "$reports"/*; do
    echo "== $f" >&2
    head -40 "$f" >&2
  done
  exit 1
fi
echo "sanitizers: no reports"
exit "$status"
