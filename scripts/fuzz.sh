#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, -O1, ASan + UBSan) in build-fuzz/ and
# runs each for SECONDS (default 60), starting from its committed seeds in
# fuzz/corpus/<target>/; prints per target the executions, exec/s, coverage
# (libFuzzer's final cov: edges and ft: features) and corpus size, and exits
# non-zero if any target crashed, hung, leaked or ran out of memory.
#
#   scripts/fuzz.sh [SECONDS] [target...]      e.g. scripts/fuzz.sh 180
#
# Environment: GPT2Q_FUZZ_BUILD_DIR (default build-fuzz), GPT2Q_JOBS (build
# jobs, default 2), GPT2Q_FUZZ_KEEP_CORPUS=1 to continue from the inputs the
# previous run found instead of the seeds alone. Not part of CI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-60}"
shift || true
build="${GPT2Q_FUZZ_BUILD_DIR:-$root/build-fuzz}"

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang "${launcher[@]}" \
  -DGPT2Q_BUILD_FUZZ=ON -DGPT2Q_BUILD_BENCH=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi
start=$(date +%s)
ninja -C "$build" -j"${GPT2Q_JOBS:-2}" "${targets[@]}" >"$build/fuzz-build.log" 2>&1 || {
  tail -30 "$build/fuzz-build.log"
  exit 1
}
echo "built ${#targets[@]} fuzz targets in $(($(date +%s) - start)) s (log: $build/fuzz-build.log)"

# A report aborts (so a crash is never mistaken for a clean exit); leaks fail too.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"

failed=()
rows=()
for target in "${targets[@]}"; do
  corpus="$build/fuzz-corpus/$target"
  [ "${GPT2Q_FUZZ_KEEP_CORPUS:-0}" = 1 ] || rm -rf "$corpus"
  mkdir -p "$corpus"
  seeds="$root/fuzz/corpus/$target"
  seed_args=()
  max_len=65536
  if [ -d "$seeds" ]; then
    seed_args=("$seeds")
    # Large seeds are used whole: max_len covers the largest, and -len_control=0
    # mutates at full length from the start (libFuzzer otherwise grows the
    # length slowly and cuts large inputs down while it does).
    largest=$(find "$seeds" -type f -printf '%s\n' | sort -n | tail -1)
    [ -n "$largest" ] && [ "$largest" -gt "$max_len" ] && max_len=$largest
  fi
  log="$build/$target.log"
  echo "== $target for ${seconds}s (max_len $max_len, log: $log)"
  status=ok
  # The working corpus comes first: libFuzzer writes new inputs there only.
  if ! "$build/$target" -max_total_time="$seconds" -max_len="$max_len" -len_control=0 \
      -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
      -artifact_prefix="$build/$target-" "$corpus" "${seed_args[@]}" >"$log" 2>&1; then
    status=FAILED
    failed+=("$target")
    grep -E "ERROR|SUMMARY|runtime error|Test unit written|_fuzz: " "$log" | head -20 || tail -20 "$log"
  fi
  # The last status line ("#N DONE cov: C ft: F corp: U/Sb ... exec/s: E") and
  # the final stats.
  last=$(grep -E "^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)" "$log" | tail -1 || true)
  field() { sed -nE "s/.*[ ]$1: ([^ ]+).*/\1/p" <<<"$last"; }
  runs=$(sed -nE 's/^stat::number_of_executed_units: +([0-9]+)/\1/p' "$log")
  rate=$(sed -nE 's/^stat::average_exec_per_sec: +([0-9]+)/\1/p' "$log")
  rows+=("$(printf '%-28s %10s %8s %7s %8s %14s %8s' "$target" "${runs:--}" "${rate:--}" \
    "$(field cov)" "$(field ft)" "$(field corp)" "$status")")
done

echo
printf '%-28s %10s %8s %7s %8s %14s %8s\n' target executions exec/s cov ft corpus result
for row in "${rows[@]}"; do echo "$row"; done
echo "(corpus: inputs/bytes libFuzzer kept after ${seconds}s; cov: edges covered; ft: features)"
if ((${#failed[@]})); then
  echo "fuzz.sh: FAILED: ${failed[*]} (crash inputs: $build/<target>-crash-*, -leak-*, -timeout-*, -oom-*)"
  exit 1
fi
