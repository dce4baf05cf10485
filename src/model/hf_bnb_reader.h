// Reading a transformers + bitsandbytes checkpoint (layout: hf_bnb_layout.h)
// into gpt2q's llm-int8 / nf4 / fp4 matrices, the stored codes used as they
// are (nothing is quantized again).
#pragma once

#include <deque>
#include <optional>
#include <string>

#include "core/status.h"
#include "io/safetensors.h"
#include "model/config.h"
#include "model/hf_bnb_layout.h"
#include "model/quantized_checkpoint.h"

namespace gpt2q {

// The quantized matrices of a bitsandbytes checkpoint, as the entries that
// LoadStoredMatrix rebuilds, and the memory some of their parts view.
struct HfBnbTensors {
  HfBnbQuantConfig config;
  // By bare name ("h.0.attn.c_attn.weight"); part_names holds every file
  // tensor consumed (weight, SCB, weight_format, weight.absmax, ...).
  QuantizedTensors tensors;
  // nested_offset of each double-quantized matrix (from its JSON quant
  // state), viewed by that entry's "offset" part; a deque keeps them in place.
  std::deque<float> offsets;
};

// Returns nullopt when `config_path` has no quantization_config. Otherwise
// maps every quantized block linear of `file` (a bitsandbytes checkpoint for
// `config`) to llm-int8 (threshold = llm_int8_threshold) or nf4/fp4 (block =
// the quant state's blocksize, double = nested state present). A linear whose
// weight is F32/F16/BF16 (a module transformers left unconverted) stays for
// the plain loader. Errors name the file, the tensor and expected vs actual:
// a quantized weight without its parts (SCB, absmax, quant_map, quant_state,
// nested_*) or parts without it, a wrong dtype or shape, bad quant-state
// JSON, a quant state whose type, shape or nesting disagrees with the
// tensors, a quant_map that is not bitsandbytes' NF4/FP4 table (gpt2q's
// kernels use those; nested_quant_map is used as stored), weight_format not 0 (row),
// a tensor that is both bare and "transformer."-prefixed.
Result<std::optional<HfBnbTensors>> ReadHfBnbTensors(const std::string& config_path,
                                                     const SafetensorsFile& file,
                                                     const GPT2Config& config);

// Returns gpt2q's labels for a loaded bitsandbytes folder: quant = the spec of
// its first quantized block linear ("nf4:block=64,double=1",
// "llm-int8:threshold=6"), scope "hf-bnb", mode "packed"; nullopt when
// `config_path` has no quantization_config (errors as ReadHfBnbQuantConfig).
Result<std::optional<QuantizedCheckpointInfo>> HfBnbCheckpointInfo(const std::string& config_path,
                                                                   const ModelWeights& weights);

}  // namespace gpt2q
