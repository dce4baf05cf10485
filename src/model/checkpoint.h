// Loading and saving GPT-2 checkpoints in Hugging Face layout (config.json +
// model.safetensors), F32 used in place from the mapping, F16/BF16 converted.
#pragma once

#include <string>

#include "core/status.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace gpt2q {

// Loads `dir`/config.json and `dir`/model.safetensors. F32 weights are used in
// place from the mapped file (kept alive in weights.owners); F16/BF16 are
// converted once into aligned buffers. Tensor names may be bare or
// "transformer."-prefixed; attn.bias / attn.masked_bias buffers are ignored;
// lm_head.weight is used when present (tied when byte-identical to wte), the
// head is tied to wte otherwise. Errors name the file, the tensor and expected
// vs actual (missing tensors, unknown names, wrong shapes or dtypes).
Result<ModelWeights> LoadCheckpoint(const std::string& dir);

// Writes `dir`/config.json and `dir`/model.safetensors (creating `dir`) in
// Hugging Face layout: Conv1D weights [in, out], `dtype` F32, F16 or BF16,
// names bare or "transformer."-prefixed. Any WeightMatrix is saved through
// DequantizeRow. Writes nothing else (see CopyTokenizerFiles).
Status SaveCheckpoint(const ModelWeights& weights, const std::string& dir, Dtype dtype,
                      bool prefixed_names);

// Copies vocab.json and merges.txt from `src_dir` to `dst_dir`.
Status CopyTokenizerFiles(const std::string& src_dir, const std::string& dst_dir);

}  // namespace gpt2q
