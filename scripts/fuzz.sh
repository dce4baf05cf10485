#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan) in build-fuzz/ and runs each
# for N seconds (default 30): scripts/fuzz.sh [seconds] [target...]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
seconds="${1:-30}"
shift || true
build="${GPT2Q_FUZZ_BUILD_DIR:-$root/build-fuzz}"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DGPT2Q_BUILD_FUZZ=ON -DGPT2Q_BUILD_BENCH=OFF >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi
ninja -C "$build" -j"${GPT2Q_JOBS:-2}" "${targets[@]}"

# Seeds: the fixture's config.json, and a tiny valid checkpoint's safetensors.
seeds="$build/fuzz-seeds"
mkdir -p "$seeds/config_fuzz" "$seeds/safetensors_fuzz"
cp "$root/data/gpt2-tiny-shakespeare/config.json" "$seeds/config_fuzz/fixture.json"
python3 - "$seeds/safetensors_fuzz/tiny.safetensors" <<'PY'
import json, struct, sys
shapes = {"wte.weight": [4, 2], "wpe.weight": [2, 2], "h.0.ln_1.weight": [2], "h.0.ln_1.bias": [2],
          "h.0.attn.c_attn.weight": [2, 6], "h.0.attn.c_attn.bias": [6],
          "h.0.attn.c_proj.weight": [2, 2], "h.0.attn.c_proj.bias": [2],
          "h.0.ln_2.weight": [2], "h.0.ln_2.bias": [2], "h.0.mlp.c_fc.weight": [2, 2],
          "h.0.mlp.c_fc.bias": [2], "h.0.mlp.c_proj.weight": [2, 2], "h.0.mlp.c_proj.bias": [2],
          "ln_f.weight": [2], "ln_f.bias": [2]}
header, offset = {"__metadata__": {"format": "pt"}}, 0
for name, shape in shapes.items():
    n = 4
    for d in shape: n *= d
    header["transformer." + name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
    offset += n
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + bytes(offset))
PY

for target in "${targets[@]}"; do
  corpus="$build/fuzz-corpus/$target"
  mkdir -p "$corpus"
  seed_dir="$seeds/$target"
  [ -d "$seed_dir" ] || seed_dir=""
  echo "== $target for ${seconds}s"
  log="$build/$target.log"
  if ! "$build/$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
      -artifact_prefix="$build/$target-" "$corpus" $seed_dir >"$log" 2>&1; then
    grep -E "ERROR|SUMMARY|artifact" "$log" || tail -20 "$log"
    echo "$target: FAILED (log: $log)"
    exit 1
  fi
  grep -E "Done [0-9]+ runs" "$log" || tail -3 "$log"
done
