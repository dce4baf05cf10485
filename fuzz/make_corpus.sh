#!/usr/bin/env bash
# Regenerates the committed seed corpus fuzz/corpus/<target>/ from the shipped
# model and tokenizer, the shared fixtures and the gpt2q binary:
#
#   fuzz/make_corpus.sh [path/to/gpt2q]      (default: build/gpt2q)
#
# Large real inputs are kept whole where they are the point (vocab.json,
# merges.txt, safetensors headers); checkpoints keep their header and only the
# first DATA_BYTES of their data, so the corpus stays a few MB
# (quantized_checkpoint_fuzz completes a short data section with zeros).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
gpt2q="${1:-$root/build/gpt2q}"
shared="${GPT2Q_SHARED_DIR:-$root/../shared}"
out="$root/fuzz/corpus"
model="$root/data/gpt2-tiny-shakespeare"
work="$(mktemp -d /tmp/gpt2q_corpus_XXXXXX)"
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$out"/{config_fuzz,gguf_fuzz,merges_fuzz,quantized_checkpoint_fuzz,safetensors_fuzz,text_file_fuzz,tokenizer_fuzz,vocab_fuzz}

# Writes the 8-byte length, the header and the first $3 bytes of the data of
# safetensors file $1 to $2.
truncate_st() {
  python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
src, dst, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(src, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = f.read(n)
    data = f.read(keep)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", n) + header + data)
PY
}

# config.json: the shipped model's and the outlier fixture's.
cp "$model/config.json" "$out/config_fuzz/shipped.json"
[ -f "$shared/fixtures/gpt2-tiny-shakespeare-outliers/config.json" ] &&
  cp "$shared/fixtures/gpt2-tiny-shakespeare-outliers/config.json" "$out/config_fuzz/outliers.json"

# vocab.json: GPT-2's real one (1 MB) and the smallest valid one.
cp "$model/vocab.json" "$out/vocab_fuzz/gpt2-vocab.json"
python3 - "$out" <<'PY'
import json, sys
# GPT-2's byte-to-character table: printable bytes stand for themselves, the
# others map to U+0100 upwards in byte order.
keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
spell, extra = {}, 0
for b in range(256):
    if b in keep:
        spell[b] = chr(b)
    else:
        spell[b] = chr(0x100 + extra)
        extra += 1
byte_vocab = {spell[b]: b for b in range(256)}
small = dict(byte_vocab)
small["<|endoftext|>"] = 256
out = sys.argv[1]
open(out + "/vocab_fuzz/bytes-only.json", "w", encoding="utf-8").write(json.dumps(small, ensure_ascii=False))
open(out + "/vocab_fuzz/bytes-only-escaped.json", "w").write(json.dumps(small))
# merges_fuzz: first byte 0 = merges.txt alone, 1 = vocab.json alone, 2 = both split at NUL.
merged = ["ab", "abc", "bc", "aa", "aaa", "aaaa", "\u0120a", "\u0120ab", "th", "the"]
rules = "#version: 0.2\na b\nab c\nb c\na a\naa a\naa aa\n\u0120 a\n\u0120a b\nt h\nth e\n"
vocab = dict(byte_vocab)
for t in merged:
    vocab[t] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
vjson = json.dumps(vocab, ensure_ascii=False).encode()
open(out + "/merges_fuzz/small-merges", "wb").write(b"\x00" + rules.encode())
open(out + "/merges_fuzz/small-vocab", "wb").write(b"\x01" + vjson)
open(out + "/merges_fuzz/small-both", "wb").write(b"\x02" + vjson + b"\x00" + rules.encode())
PY
# The real pair: 1.5 MB, the input the tokenizer meets every day.
{ printf '\x02'; cat "$model/vocab.json"; printf '\x00'; cat "$model/merges.txt"; } >"$out/merges_fuzz/gpt2-both"

# Text: the start of the held-out text, and every width of UTF-8 with broken sequences.
head -c 4096 "$root/data/tinyshakespeare-heldout.txt" >"$out/text_file_fuzz/heldout-4k.txt"
head -c 4096 "$root/data/tinyshakespeare-heldout.txt" >"$out/tokenizer_fuzz/heldout-4k.txt"
python3 - "$out" <<'PY'
import sys
out = sys.argv[1]
mixed = "ASCII, é ß ü, ∑ € ≥ —, 中文 日本語, 😀 🤖 \U0010FFFF, <|endoftext|>\r\n\t".encode()
broken = mixed + b"\xc0\xaf \xe0\x80\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82 \xff\xfe \x80"
for d in ("text_file_fuzz", "tokenizer_fuzz"):
    open(f"{out}/{d}/utf8-widths.txt", "wb").write(mixed)
    open(f"{out}/{d}/utf8-broken.bin", "wb").write(broken)
PY

# safetensors: a tiny complete checkpoint for the target's built-in config
# (vocab 4, ctx 2, embd 2, 1 layer, inner 2), the shipped model's header with
# and without the start of its data, and the bitsandbytes fixtures' headers.
python3 - "$out/safetensors_fuzz/tiny.safetensors" <<'PY'
import json, struct, sys
shapes = {"wte.weight": [4, 2], "wpe.weight": [2, 2], "h.0.ln_1.weight": [2], "h.0.ln_1.bias": [2],
          "h.0.attn.c_attn.weight": [2, 6], "h.0.attn.c_attn.bias": [6],
          "h.0.attn.c_proj.weight": [2, 2], "h.0.attn.c_proj.bias": [2],
          "h.0.ln_2.weight": [2], "h.0.ln_2.bias": [2], "h.0.mlp.c_fc.weight": [2, 2],
          "h.0.mlp.c_fc.bias": [2], "h.0.mlp.c_proj.weight": [2, 2], "h.0.mlp.c_proj.bias": [2],
          "ln_f.weight": [2], "ln_f.bias": [2]}
header, offset, data = {"__metadata__": {"format": "pt"}}, 0, b""
for i, (name, shape) in enumerate(shapes.items()):
    n = 1
    for d in shape: n *= d
    header["transformer." + name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * n]}
    data += struct.pack(f"<{n}f", *[0.25 * ((i + k) % 5 - 2) for k in range(n)])
    offset += 4 * n
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(text)) + text + data)
PY
truncate_st "$model/model.safetensors" "$out/safetensors_fuzz/shipped-header" 0
truncate_st "$model/model.safetensors" "$out/safetensors_fuzz/shipped-header-4k-data" 4096
for d in "$shared"/fixtures/hf-bnb/*/; do
  [ -f "$d/model.safetensors" ] && truncate_st "$d/model.safetensors" "$out/safetensors_fuzz/$(basename "$d")-header" 0
done

# Quantized checkpoints made by `gpt2q quantize`: the shipped model in every
# format (header, metadata and the first 4 KiB of data), and a tiny model
# (embd 32, inner 64, the 256 byte tokens and <|endoftext|>) whole, so its
# parts hold real codes and scales.
tiny="$work/tiny"
mkdir -p "$tiny"
cp "$out/vocab_fuzz/bytes-only.json" "$tiny/vocab.json"
printf '#version: 0.2\n' >"$tiny/merges.txt"
python3 - "$tiny" <<'PY'
import json, random, struct, sys
d = sys.argv[1]
random.seed(7)
E, I, V, C = 32, 64, 257, 8
json.dump({"model_type": "gpt2", "vocab_size": V, "n_positions": C, "n_embd": E, "n_layer": 1,
           "n_head": 2, "n_inner": I, "layer_norm_epsilon": 1e-5, "eos_token_id": V - 1,
           "bos_token_id": V - 1}, open(d + "/config.json", "w"))
shapes = {"wte.weight": [V, E], "wpe.weight": [C, E], "h.0.ln_1.weight": [E], "h.0.ln_1.bias": [E],
          "h.0.attn.c_attn.weight": [E, 3 * E], "h.0.attn.c_attn.bias": [3 * E],
          "h.0.attn.c_proj.weight": [E, E], "h.0.attn.c_proj.bias": [E],
          "h.0.ln_2.weight": [E], "h.0.ln_2.bias": [E], "h.0.mlp.c_fc.weight": [E, I],
          "h.0.mlp.c_fc.bias": [I], "h.0.mlp.c_proj.weight": [I, E], "h.0.mlp.c_proj.bias": [E],
          "ln_f.weight": [E], "ln_f.bias": [E]}
header, offset, data = {}, 0, b""
for name, shape in shapes.items():
    n = 1
    for s in shape: n *= s
    values = [1.0 + 0.1 * random.gauss(0, 1) if name.endswith("ln_1.weight") or name.endswith("ln_2.weight")
              or name == "ln_f.weight" else random.gauss(0, 0.05) for _ in range(n)]
    values[n // 3] *= 40  # an outlier, for llm-int8
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + 4 * n]}
    data += struct.pack(f"<{n}f", *values)
    offset += 4 * n
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
open(d + "/model.safetensors", "wb").write(struct.pack("<Q", len(text)) + text + data)
PY
qdir="$out/quantized_checkpoint_fuzz"
for spec in fp16 absmax absmax:w8a8=1 zeropoint symquant simquant absmax-row zeropoint-row \
    zeroquant zeroquant:bits=4 llm-int8 nf4 nf4:double=1 fp4 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q6_k; do
  name="${spec//[:=]/-}"
  "$gpt2q" quantize "$model" --quant "$spec" --out "$work/q-$name" >/dev/null
  truncate_st "$work/q-$name/model.safetensors" "$qdir/shipped-$name" 4096
  case "$spec" in q4_k | q6_k) continue ;; esac  # need rows of 256: nothing to quantize in the tiny model
  "$gpt2q" quantize "$tiny" --quant "$spec" --out "$work/t-$name" >/dev/null
  cp "$work/t-$name/model.safetensors" "$qdir/tiny-$name"
done
"$gpt2q" quantize "$model" --quant q8_0 --scope lm-head --out "$work/q-lm-head" >/dev/null
truncate_st "$work/q-lm-head/model.safetensors" "$qdir/shipped-q8_0-lm-head" 4096

# GGUF files written by `gpt2q quantize --export gguf` from the tiny model,
# whole: every type gpt2q reads (the K-quants' 256-value blocks do not fit its
# rows), and a mixed file whose head is untied (Q4_0 output, F32 token_embd).
gdir="$out/gguf_fuzz"
for spec in fp32 fp16 q8_0 q4_0 q4_1 q5_0 q5_1; do
  "$gpt2q" quantize "$tiny" --quant "$spec" --export gguf --out "$gdir/tiny-$spec.gguf" >/dev/null
done
"$gpt2q" quantize "$tiny" --quant q4_0 --scope lm-head --export gguf --out "$gdir/tiny-q4_0-untied.gguf" >/dev/null

du -sh "$out"
for d in "$out"/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) files, $(du -sh "$d" | cut -f1)"; done
