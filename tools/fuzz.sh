#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) in build-fuzz/ and
# runs each for SECONDS (default 30) on a corpus that starts from generated
# seeds, the saved findings in fuzz/regressions/ and what earlier runs found.
# Exits non-zero on any finding: a crash, a sanitizer report, an uncaught
# exception, an allocation over the limit, or an input slower than the timeout.
#   tools/fuzz.sh [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-30}"
source "$root/tools/deps.sh"
# clang, its runtimes (libFuzzer, ASan, UBSan) and the OpenMP runtime it links.
krrdistill_install_missing clang libclang-rt-dev libomp-dev

build="$root/build-fuzz"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DKRRDISTILL_FUZZ=ON -DKRRDISTILL_BUILD_TESTS=OFF >/dev/null
targets=(idx cifar10 cifar100 npy report statistics)
cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/findings"
passed=0
failed=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  "$build/fuzz/fuzz_$t" --write-seeds="$corpus" >/dev/null
  inputs=("$corpus")
  [ -d "$root/fuzz/regressions/$t" ] && inputs+=("$root/fuzz/regressions/$t")
  log="$build/fuzz_$t.log"
  # 16 KiB covers two CIFAR records; no legitimate input here needs more than
  # a few MiB, so 256 MiB in one allocation means a size taken from a header.
  stamp="$build/findings/.start_$t"
  touch "$stamp"
  status=0
  "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=16384 -timeout=10 \
    -malloc_limit_mb=256 -rss_limit_mb=2048 -use_value_profile=1 -print_final_stats=1 \
    -artifact_prefix="$build/findings/$t-" "${inputs[@]}" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  found=$(find "$build/findings" -name "$t-*" -newer "$stamp" | wc -l)
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=$((failed + 1))
    echo "fuzz_$t: FINDING (exit $status) after ${runs:-?} runs; see $log and $build/findings/" >&2
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|uncaught exception)' "$log" | head -5 >&2 || true
  else
    echo "fuzz_$t: ${runs:-?} runs in ${seconds} s (${rate:-?}/s), no findings"
    passed=$((passed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
