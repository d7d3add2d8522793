#!/usr/bin/env bash
# Out-of-core scaling. Writes Fashion-MNIST's training set repeated 1x, 4x and
# 16x (each copy perturbed deterministically, labels kept; 47 MB, 188 MB,
# 753 MB of pixels) as plain IDX into a temporary folder, runs
# `krrdistill distill --stream` on each, and reports the median wall time, the
# time per training image, and the peak RSS (/usr/bin/time %M): RSS must stay
# flat (within 10% of 1x) and time grow linearly. The in-memory default is
# shown beside it for contrast. The folder is removed afterwards.
# Usage: bench/bench_scale.sh [runs] [copies...]   (defaults: 3; 1 4 16)
# KRRDISTILL_BUILD_DIR selects the build (default build/).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/tools/deps.sh"
krrdistill_install_missing time jq
build="${KRRDISTILL_BUILD_DIR:-$root/build}"
krrdistill_build "$build" >/dev/null
runs="${1:-3}"
shift || true
copies=("$@")
[ ${#copies[@]} -gt 0 ] || copies=(1 4 16)
bin="$build/krrdistill"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# run DIR ARGS...: median wall (s), median peak RSS (MB), median fit and certify (s).
run() {
  local dir="$1"; shift
  : >"$work/samples"
  for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e %M" -o "$work/time" \
      "$bin" distill --dataset idx --data "$dir" --quiet --force --out "$work/out" "$@"
    read -r wall rss <"$work/time"
    echo "$wall $rss $(jq -r '[.timings_s.fit, .timings_s.certify] | @tsv' "$work/out/report.json")" \
      >>"$work/samples"
  done
  local col out=""
  for col in 1 2 3 4; do
    out+="$(awk -v c="$col" '{split($0, f, /[ \t]+/); print f[c]}' "$work/samples" | median) "
  done
  echo "$out"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1 /proc/loadavg)"
echo "job: distill --ipc 1 --init noise (linear), median of $runs runs; RSS in MB"
printf '%-6s %-9s %9s %9s %12s %9s %9s %10s %10s\n' copies mode n_train wall_s us/image fit_s certify_s peak_RSS RSS/1x
base_rss=""; base_per=""
for c in "${copies[@]}"; do
  dir="$work/x$c"
  "$build/bench/make_scaled_idx" /usr/share/datasets/fashion-mnist "$dir" "$c"
  n=$((60000 * c))
  for mode in stream memory; do
    flags=(--ipc 1 --init noise)
    [ "$mode" = stream ] && flags+=(--stream)
    read -r wall rss fit cert < <(run "$dir" "${flags[@]}")
    rss_mb=$(awk -v r="$rss" 'BEGIN {printf "%.0f", r / 1024}')
    per=$(awk -v w="$wall" -v n="$n" 'BEGIN {printf "%.2f", w / n * 1e6}')
    ratio="-"
    if [ "$mode" = stream ]; then
      [ -n "$base_rss" ] || { base_rss="$rss_mb"; base_per="$per"; }
      ratio=$(awk -v r="$rss_mb" -v b="$base_rss" 'BEGIN {printf "%.3f", r / b}')
    fi
    printf '%-6s %-9s %9d %9.2f %12s %9.2f %9.2f %10s %10s\n' "${c}x" "$mode" "$n" "$wall" "$per" "$fit" "$cert" "$rss_mb" "$ratio"
  done
  rm -rf "$dir"
done
echo "flat: stream RSS within 10% of 1x; linear: us/image of stream roughly constant (1x: $base_per)"
