// Writing a quantized GPT-2 in the transformers + bitsandbytes layout
// (hf_bnb_layout.h), so that AutoModelForCausalLM.from_pretrained(DIR) loads it
// where transformers and bitsandbytes run, and gpt2q loads it back unchanged.
#pragma once

#include <string>

#include "core/status.h"
#include "model/weights.h"

namespace gpt2q {

// Rounds every parameter of `weights` (all fp32 matrices and vectors) to the
// nearest fp16 value, in new buffers: transformers loads a bitsandbytes model
// in float16 (torch_dtype None -> float16) and casts each weight to float16
// before bitsandbytes quantizes it. Quantizing the result then gives the
// codes transformers + bitsandbytes would compute, and every parameter left
// unquantized is stored exactly. An error naming the tensor if a matrix is
// not fp32 (already quantized) or a value is beyond fp16's range.
Status RoundWeightsToFp16(ModelWeights& weights);

// Writes `dir`/model.safetensors and `dir`/config.json (creating `dir`):
// every block linear must be llm-int8, or every one nf4/fp4 (one format and
// params for all; the writer refuses a mix, which one quantization_config
// cannot describe); wte, wpe, LayerNorms and biases fp32 holding
// fp16-exact values (RoundWeightsToFp16) are written F16; a tied head is not
// written (untied: lm_head.weight F16). Errors name the tensor and expected
// vs actual. Writes nothing else (see CopyTokenizerFiles).
Status SaveHfBnbCheckpoint(const ModelWeights& weights, const std::string& dir);

}  // namespace gpt2q
