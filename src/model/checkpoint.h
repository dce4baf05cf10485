// Loading and saving GPT-2 checkpoints in Hugging Face layout (config.json +
// model.safetensors), F32 used in place from the mapping, F16/BF16 converted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "io/safetensors.h"
#include "model/weights.h"

namespace gpt2q {

// A tensor of a checkpoint that holds NaN or ±Inf values.
struct NonFiniteTensor {
  std::string name;    // as spelled in model.safetensors (a weight or a quantized part)
  int64_t count = 0;   // NaN and ±Inf values
  int64_t first = 0;   // flat index of the first, in the file's layout
  int64_t numel = 0;   // values in the tensor
};

struct LoadOptions {
  // Loads weights that hold NaN or ±Inf (to study a broken model) instead of
  // failing; LoadCheckpoint lists them in `*nonfinite`.
  bool allow_nonfinite = false;
};

// Loads `dir`/config.json and `dir`/model.safetensors. F32 weights are used in
// place from the mapped file (kept alive in weights.owners); F16/BF16 are
// converted once into aligned buffers. Tensor names may be bare or
// "transformer."-prefixed; attn.bias / attn.masked_bias buffers are ignored;
// lm_head.weight is used when present (tied when byte-identical to wte), the
// head is tied to wte otherwise. Errors name the file, the tensor and expected
// vs actual (missing tensors, unknown names, wrong shapes or dtypes).
// A folder whose config.json has a bitsandbytes quantization_config
// (transformers' layout) loads its quantized linears as llm-int8 / nf4 / fp4
// (hf_bnb_reader.h); a gpt2q quantized checkpoint, its stored formats.
// Every weight and every F32/F16/BF16 part of a quantized matrix is checked
// once for NaN and ±Inf (in the pass that converts F16/BF16, a vectorized scan
// for F32): an error naming the tensor, the count and the first index, unless
// options.allow_nonfinite, which loads them and appends each such tensor to
// `*nonfinite` (when not null).
Result<ModelWeights> LoadCheckpoint(const std::string& dir, const LoadOptions& options = {},
                                    std::vector<NonFiniteTensor>* nonfinite = nullptr);

// Creates `dir` (and its parents) for a checkpoint of `weights`, after checking
// that the model has config.n_layer blocks. Every checkpoint writer starts here.
Status PrepareCheckpointDir(const ModelWeights& weights, const std::string& dir);

// Writes `dir`/config.json and `dir`/model.safetensors (creating `dir`) in
// Hugging Face layout: Conv1D weights [in, out], `dtype` F32, F16 or BF16,
// names bare or "transformer."-prefixed. Any WeightMatrix is saved through
// DequantizeRow. Writes nothing else (see CopyTokenizerFiles).
Status SaveCheckpoint(const ModelWeights& weights, const std::string& dir, Dtype dtype,
                      bool prefixed_names);

// Copies vocab.json and merges.txt from `src_dir` to `dst_dir`.
Status CopyTokenizerFiles(const std::string& src_dir, const std::string& dst_dir);

}  // namespace gpt2q
