// The Hugging Face transformers + bitsandbytes checkpoint layout: the
// `quantization_config` of config.json and the JSON quant state that
// bitsandbytes stores beside every 4-bit weight. Shared by the reader
// (hf_bnb_reader.h) and the writer (hf_bnb_writer.h).
//
// Layout (what transformers' save_pretrained writes for GPT2LMHeadModel with
// a BitsAndBytesConfig; see the README's "Hugging Face bitsandbytes" section
// for the source of each choice):
//   - every Conv1D of the blocks (attn.c_attn, attn.c_proj, mlp.c_fc,
//     mlp.c_proj) is quantized, its weight transposed to [out, in] first;
//   - 8-bit (LLM.int8()): MODULE.weight I8 [out, in] (CB), MODULE.SCB F32
//     [out] (row absmax), MODULE.weight_format U8 [] = 0 ("row");
//   - 4-bit: MODULE.weight U8 [ceil(out·in/2), 1] (two codes per byte, first
//     in the high nibble), MODULE.weight.absmax F32 [n_blocks] (U8 with double
//     quantization), MODULE.weight.quant_map F32 [16], with double
//     quantization MODULE.weight.nested_absmax F32 [ceil(n_blocks/256)] and
//     MODULE.weight.nested_quant_map F32 [256], and
//     MODULE.weight.quant_state.bitsandbytes__nf4|fp4 U8 [len]: the UTF-8
//     bytes of QuantStateJson (below);
//   - everything else (wte, wpe, LayerNorms, biases) F16; the tied lm_head
//     is not stored; names keep the "transformer." prefix.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"

namespace gpt2q {

// The quant_method value of a bitsandbytes quantization_config.
inline constexpr char kHfBnbQuantMethod[] = "bitsandbytes";
// The prefix transformers gives GPT2LMHeadModel's body parameters.
inline constexpr char kHfBnbPrefix[] = "transformer.";
// Values per nested (double-quantization) block: bitsandbytes' quantize_4bit
// always calls quantize_blockwise(..., blocksize=256).
inline constexpr int64_t kHfBnbNestedBlock = 256;

// What quantization_config says (the keys gpt2q reads or writes).
struct HfBnbQuantConfig {
  bool load_in_8bit = false;
  bool load_in_4bit = false;
  double llm_int8_threshold = 6.0;
  std::string bnb_4bit_quant_type = "fp4";   // nf4 | fp4
  bool bnb_4bit_use_double_quant = false;
  std::string bnb_4bit_compute_dtype = "float32";
  std::string bnb_4bit_quant_storage = "uint8";
  // config.json's `dtype` (transformers v5) or `torch_dtype` (4.x), "" if neither.
  std::string dtype;
};

// Reads `config_path` (config.json): nullopt when it has no
// quantization_config; an error (naming the file, the key, expected vs actual)
// when quant_method is not "bitsandbytes", neither or both of load_in_8bit /
// load_in_4bit are true, llm_int8_has_fp16_weight is true (fp16 weights, not
// int8), bnb_4bit_quant_storage is not uint8, a key has the wrong type, or
// `dtype` and `torch_dtype` disagree.
Result<std::optional<HfBnbQuantConfig>> ReadHfBnbQuantConfig(const std::string& config_path);

// Returns the quantization_config object transformers' BitsAndBytesConfig.to_dict
// writes for `config`, as JSON text (keys sorted, as json.dumps(sort_keys=True)).
std::string HfBnbQuantConfigJson(const HfBnbQuantConfig& config);

// The JSON quant state of a 4-bit weight (bitsandbytes QuantState.as_dict(packed=True)).
struct Bnb4QuantState {
  std::string quant_type;      // "nf4" | "fp4"
  int64_t blocksize = 64;
  std::string dtype;           // dtype of the weight before quantization: float16 | float32 | bfloat16
  int64_t rows = 0, cols = 0;  // "shape": [out, in]
  bool nested = false;         // double quantization
  int64_t nested_blocksize = kHfBnbNestedBlock;
  std::string nested_dtype = "float32";
  float nested_offset = 0.0f;  // mean of the absmax values
};

// Parses the bytes of a quant_state tensor; `where` names it in errors (bad
// UTF-8/JSON, a missing or unknown key, a value of the wrong type or range).
Result<Bnb4QuantState> ParseBnb4QuantState(const std::string& where, const uint8_t* bytes,
                                           int64_t size);

// Returns the JSON text bitsandbytes packs: json.dumps with default
// separators, keys in as_dict's order (quant_type, blocksize, dtype, shape,
// then nested_blocksize, nested_dtype, nested_offset), floats as Python's repr.
std::string Bnb4QuantStateJson(const Bnb4QuantState& state);

// Returns Python's repr() of `value` (shortest round-trip digits; scientific
// notation below 1e-4 and from 1e16, exponent with a sign and two digits).
std::string PythonFloatRepr(double value);

}  // namespace gpt2q
