#!/usr/bin/env bash
# Kill test of `gpt2q quantize`'s staged writes (issue 10): runs quantize again
# and again, sends SIGKILL at a random moment of each run, and checks that the
# output path holds nothing, the complete old output or the complete new one
# (checksums of all its files against complete runs, and `gpt2q info` loads
# it), that the input model is untouched, and that the next run removes the
# stale temporary a kill left. Bounded: stops after --kills delivered kills or
# 2x that many runs, whichever comes first. Exit status 0 when nothing failed.
#
#   scripts/kill_test.sh [--kills N] [--source synthetic|folder|both]
#                        [--binary PATH] [--threads T] [--seed S] [--keep]
#
# --source synthetic quantizes `--synthetic gpt2` (124M random weights), folder
# a copy of data/gpt2-tiny-shakespeare; both alternates (the default). Runs
# alternate between a fresh output and an existing complete output replaced
# with --force, and between --quant q4_0 and q8_0, so old and new differ.
# Half the kill delays are uniform over [0, 1.05 x] the duration of a complete
# run of the same kind (measured first), half over its last 1.5 x its write
# time + 0.5 x after: the write, the rename into place and the deletion of the
# old output. Everything happens in a temporary folder.
set -euo pipefail

kills=200
source_kind=both
threads=2
seed=1
keep=0
repo=$(cd "$(dirname "$0")/.." && pwd)
binary=$repo/build/gpt2q

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case $1 in
    --kills) kills=$2; shift 2 ;;
    --source) source_kind=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "kill_test.sh: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done
case $source_kind in
  synthetic) sources=(synthetic) ;;
  folder) sources=(folder) ;;
  both) sources=(synthetic folder) ;;
  *) echo "kill_test.sh: --source '$source_kind': expected synthetic, folder or both" >&2; exit 2 ;;
esac
[[ $kills =~ ^[1-9][0-9]*$ ]] || { echo "kill_test.sh: --kills '$kills': expected a positive count" >&2; exit 2; }
[ -x "$binary" ] || { echo "kill_test.sh: $binary: no gpt2q binary (build it, or pass --binary)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/gpt2q-kill.XXXXXX")
cleanup() { if [ "$keep" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

# The input: a private copy of the shipped model, which is both the folder
# model and (through GPT2Q_DATA_DIR) the tokenizer that --synthetic reads.
mkdir -p "$work/data"
cp -r "$repo/data/gpt2-tiny-shakespeare" "$work/data/"
export GPT2Q_DATA_DIR=$work/data
input=$work/data/gpt2-tiny-shakespeare
input_sums=$(cd "$input" && sha256sum -- * | sort)
out=$work/out
specs=(q4_0 q8_0)

source_args() { if [ "$1" = synthetic ]; then echo "--synthetic gpt2"; else echo "$input"; fi; }
# Checksums of every file of a folder ("" when absent), one "sum  name" a line.
folder_sums() { if [ -d "$1" ]; then (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); fi; }
now() { date +%s.%N; }

# Complete runs: the checksums of each (source, spec) output and how long it takes.
declare -A ref_sums ref_seconds ref_write
for src in "${sources[@]}"; do
  for spec in "${specs[@]}"; do
    ref=$work/ref-$src-$spec
    start=$(now)
    # shellcheck disable=SC2046
    timeout 600 "$binary" quantize $(source_args "$src") --quant "$spec" --out "$ref" --threads "$threads" \
      > "$work/ref.log" 2>&1 || { cat "$work/ref.log" >&2; echo "kill_test.sh: the complete run failed" >&2; exit 1; }
    ref_seconds[$src-$spec]=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }')
    ref_sums[$src-$spec]=$(folder_sums "$ref")
    # The write phase, from "wrote ... in X s": half the kills aim at it.
    ref_write[$src-$spec]=$(sed -n 's/^wrote .* in \([0-9.]*\) s$/\1/p' "$work/ref.log")
    [ -n "${ref_write[$src-$spec]}" ] || { cat "$work/ref.log" >&2; echo "kill_test.sh: no 'wrote' line" >&2; exit 1; }
    echo "complete run: $src $spec in ${ref_seconds[$src-$spec]} s (writing ${ref_write[$src-$spec]} s)"
  done
done

failures=0 runs=0 delivered=0 finished=0 stale_left=0 stale_cleaned=0
declare -A outcome
fail() { failures=$((failures + 1)); echo "FAIL run $runs: $*" >&2; }
temps() { (cd "$work" && ls -A | grep -E '^\.out\.gpt2q-(tmp|old)-[0-9]+$' || true); }
prev_temps=""

while [ "$delivered" -lt "$kills" ] && [ "$runs" -lt $((2 * kills)) ]; do
  i=$runs
  n=${#sources[@]}
  src=${sources[$((i % n))]}
  mode=$([ $(((i / n) % 2)) = 1 ] && echo replace || echo fresh)
  new=${specs[$(((i / (2 * n)) % 2))]}
  old=${specs[$((1 - (i / (2 * n)) % 2))]}
  force=""
  if [ "$mode" = fresh ]; then
    rm -rf "$out"
    before=absent
  else
    force=--force
    if [ "$(folder_sums "$out")" != "${ref_sums[$src-$old]}" ]; then
      rm -rf "$out"
      cp -r "$work/ref-$src-$old" "$out"
    fi
    before=old
  fi
  # Half the delays uniform over the whole run, half over its end: the write,
  # the rename and the deletion of the old output (2x the write time).
  delay=$(awk -v s="$seed" -v i="$i" -v t="${ref_seconds[$src-$new]}" -v w="${ref_write[$src-$new]}" \
    'BEGIN { srand(s * 100003 + i); if (rand() < 0.5) d = rand() * t * 1.05;
             else { d = t - 1.5 * w + rand() * 2 * w; if (d < 0) d = 0 }
             printf "%.3f", d }')

  # shellcheck disable=SC2046
  "$binary" quantize $(source_args "$src") --quant "$new" --out "$out" $force --threads "$threads" \
    > "$work/run.log" 2>&1 &
  pid=$!
  sleep "$delay"
  kill -KILL "$pid" 2> /dev/null || true
  rc=0
  wait "$pid" 2> /dev/null || rc=$?
  runs=$((runs + 1))
  if [ "$rc" = 137 ]; then
    delivered=$((delivered + 1))
  elif [ "$rc" = 0 ]; then
    finished=$((finished + 1))
  else
    fail "$src $mode $new: exit status $rc: $(tail -n 3 "$work/run.log")"
  fi

  # The output: nothing, the complete old one or the complete new one.
  sums=$(folder_sums "$out")
  if [ ! -e "$out" ]; then
    state=absent
  elif [ "$sums" = "${ref_sums[$src-$new]}" ]; then
    state=new
  elif [ "$sums" = "${ref_sums[$src-$old]}" ]; then
    state=old
  else
    state=broken
  fi
  case "$mode/$state/$rc" in
    fresh/absent/137 | fresh/new/* | replace/old/137 | replace/new/*) ;;
    *) fail "$src $mode $new (delay $delay s, exit $rc): output is '$state'; files: $(ls -A "$out" 2> /dev/null | tr '\n' ' ')" ;;
  esac
  how=$([ "$rc" = 137 ] && echo killed || echo "not killed (exit $rc)")
  outcome[$mode output $state, $how]=$((${outcome[$mode output $state, $how]:-0} + 1))
  if [ "$state" = old ] || [ "$state" = new ]; then
    "$binary" info "$out" --threads 1 > /dev/null 2> "$work/info.log" || fail "gpt2q info $state output: $(cat "$work/info.log")"
  fi
  [ "$(cd "$input" && sha256sum -- * | sort)" = "$input_sums" ] || fail "the input model changed"

  # A run that got past its start (its own temporary exists, or it committed)
  # must have removed the temporaries that earlier killed runs left.
  now_temps=$(temps)
  own=.out.gpt2q-tmp-$pid
  if grep -qx -- "$own" <<< "$now_temps" || [ "$state" = new ]; then
    for t in $prev_temps; do
      if grep -qx -- "$t" <<< "$now_temps"; then
        fail "stale temporary $t survived the next run"
      else
        stale_cleaned=$((stale_cleaned + 1))
      fi
    done
  fi
  grep -qx -- "$own" <<< "$now_temps" && stale_left=$((stale_left + 1))
  prev_temps=$now_temps
done

# A last complete run removes what the kills left and says so.
"$binary" quantize $(source_args "${sources[0]}") --quant q4_0 --out "$out" --force --threads "$threads" \
  > "$work/final.log" 2>&1 || fail "the final complete run failed: $(tail -n 3 "$work/final.log")"
final_notes=$(grep -c '^note .*removed .*stale temporary' "$work/final.log" || true)
for t in $prev_temps; do
  [ -e "$work/$t" ] && fail "stale temporary $t survived the final run"
  stale_cleaned=$((stale_cleaned + 1))
done
[ "$(folder_sums "$out")" = "${ref_sums[${sources[0]}-q4_0]}" ] || fail "the final output is not the complete q4_0 output"
[ -z "$(temps)" ] || fail "temporaries left after the final run: $(temps | tr '\n' ' ')"

echo "kill test: $delivered kills in $runs runs ($finished finished before the kill), sources: ${sources[*]}"
while read -r key; do
  echo "  $key: ${outcome[$key]}"
done < <(printf '%s\n' "${!outcome[@]}" | sort)
echo "  stale temporaries left by kills: $stale_left; seen removed by the next run: $stale_cleaned" \
  "(the final run reported $final_notes removal notes)"
echo "  input untouched after every run: $([ "$(cd "$input" && sha256sum -- * | sort)" = "$input_sums" ] && echo yes || echo NO)"
echo "failures: $failures"
[ "$failures" = 0 ]
