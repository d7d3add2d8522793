#!/usr/bin/env bash
# Benchmarks: medians of several runs of the real Fashion-MNIST jobs, per
# phase, with peak RSS, each run as a ratio to a floor measured just before
# it (bench_floor: inflate the four .gz files with zlib, the training pixels
# to double, one DSYRK over all of them on every core), and the Gram product's
# GFLOP/s next to a plain DGEMM. Prints the CPU model, its SIMD flags and the
# OpenBLAS kernels first, since the machines differ.
# Usage: bench/bench.sh [runs]   (default 5)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
krrdistill_install_missing time jq
krrdistill_build "$root/build"
runs="${1:-5}"
bin="$root/build/krrdistill"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# bench NAME ARGS...: runs `krrdistill distill ARGS` $runs times, each right
# after one measurement of the floor (the host's load moves both within
# minutes, so each run is compared with a floor of its own moment); prints
# the median wall time, the median of the runs' ratios to their floors, the
# median of each phase from report.json, and peak RSS.
bench() {
  local name="$1"; shift
  local wall=() rss=() ratio=()
  : >"$work/phases"
  for i in $(seq "$runs"); do
    local f
    # A median of 3: the first, cold run (fresh pages) is the slowest and drops out.
    f=$("$root/build/bench/bench_floor" "$data" 3 | awk '$1 == "floor_s" {print $2}')
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" distill --quiet --force --out "$work/out" "$@"
    read -r w r <"$work/time"
    wall+=("$w"); rss+=("$r"); ratio+=("$(awk -v w="$w" -v f="$f" 'BEGIN {print w / f}')")
    jq -r '.timings_s | [.load, .fit, .distill, .certify, .write, .total] | @tsv' "$work/out/report.json" >>"$work/phases"
  done
  local med_wall med_rss med_ratio
  med_wall=$(printf '%s\n' "${wall[@]}" | median)
  med_rss=$(printf '%s\n' "${rss[@]}" | median)
  med_ratio=$(printf '%s\n' "${ratio[@]}" | median)
  local cols=(load fit distill certify write total) line="" c
  for c in 1 2 3 4 5 6; do
    line+=$(printf '%s=%.3f ' "${cols[$((c-1))]}" "$(cut -f"$c" "$work/phases" | median)")
  done
  local acc err
  acc=$(jq -r '.certificate.original.test_acc' "$work/out/report.json")
  err=$(jq -r '.certificate.weight_rel_error' "$work/out/report.json")
  # /usr/bin/time's %M is in KiB: MiB, and million bytes (the targets' MB).
  printf '%-26s wall %.3f s = %.2fx floor  peak RSS %4.0f MiB = %4.0f MB | %s| test_acc %s |Ws-W|/|W| %.2g\n' \
    "$name" "$med_wall" "$med_ratio" \
    "$(awk -v r="$med_rss" 'BEGIN {print r / 1024}')" \
    "$(awk -v r="$med_rss" 'BEGIN {print r * 1024 / 1e6}')" "$line" "$acc" "$err"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
echo "SIMD: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|avx512[a-z_0-9]*)$' | sort | xargs)"
data=/usr/share/datasets/fashion-mnist
"$root/build/bench/bench_floor" "$data" "$runs"
echo
echo "median of $runs runs, each ratio against a floor measured just before it;"
echo "phases in seconds from report.json (process start-up is in wall only)"
bench "linear ipc1 noise" --ipc 1 --init noise
bench "linear ipc10 real" --ipc 10 --init real
bench "rff ipc1 noise" --model rff --ipc 1 --init noise
bench "rff ipc10 real" --model rff --ipc 10 --init real
bench "fcnn ipc1 noise" --model fcnn --ipc 1 --init noise
bench "fcnn ipc10 real" --model fcnn --ipc 10 --init real

# kip_bench NAME STEPS ARGS...: median seconds per KIP step (optimisation
# only, which with --zca includes whitening the training set once).
kip_bench() {
  local name="$1" steps="$2"; shift 2
  : >"$work/steps"
  for i in $(seq "$runs"); do
    "$bin" kip --quiet --force --out "$work/kip" --ipc 10 --batch 5000 --steps "$steps" --eval-every 0 "$@"
    jq -r '.result.seconds_per_step' "$work/kip/report.json" >>"$work/steps"
  done
  printf '%-26s %.4f s per step (median of %s runs of %s steps)\n' "$name" "$(median <"$work/steps")" "$runs" "$steps"
}
echo
kip_bench "kip linear ipc10 b5000" 30
kip_bench "kip ntk-1 ipc10 b5000" 30 --model ntk --depth 1
kip_bench "kip ntk-1 ipc10 b5000 double" 30 --model ntk --depth 1 --batch-precision double
kip_bench "kip ntk-1 ipc10 b5000 zca" 200 --model ntk --depth 1 --zca
echo
"$root/build/bench/bench_gram" 784 60000 "$runs"
