// Memory accounting of a model's weights: our own bytes, and the figure Hugging
// Face's get_memory_footprint() would print for the equivalent model.
#pragma once

#include <cstdint>
#include <string>

#include "model/weights.h"

namespace gpt2q {

struct ModelMemory {
  int64_t weights_bytes = 0;       // every stored byte: codes, scales, zero-points, fp32 tensors
  int64_t fp32_bytes = 0;          // the same model in fp32, tied head counted once
  int64_t hf_footprint_bytes = 0;  // see HfFootprintBytes
  double compression() const { return 1.0 - double(weights_bytes) / double(fp32_bytes); }
  double ratio() const { return double(fp32_bytes) / double(weights_bytes); }
};

// Returns the memory figures of `weights` as they are now.
ModelMemory ComputeMemory(const ModelWeights& weights);

// Returns what transformers' model.get_memory_footprint() reports for this model
// loaded the equivalent way: Σ parameters × element size + buffers, scales not
// counted. Linear (Conv1D) weights count their code bits (int8 formats 1 byte,
// 4-bit formats ½, 5- and 6-bit ggml formats ⅝ and ¾, fp16 2); every other
// parameter counts 4 bytes when no tensor is quantized (an fp32 load) and 2 bytes
// otherwise (bitsandbytes loads run in fp16); the buffers are the n_layer causal
// masks (n_ctx² bools) and masked_bias scalars. For gpt2: 510,342,192 bytes fp32,
// 176,527,896 with llm-int8 on the Conv1D layers (load_in_8bit).
int64_t HfFootprintBytes(const ModelWeights& weights);

// Returns the bytes one batch-1 decode step reads with `context` positions in
// the KV cache: every matrix it multiplies by (a tied head once), one row of an
// untied embedding and of the position table, the vectors, and K and V of every
// layer. Decode's bandwidth limit is the machine's read bandwidth over this.
double DecodeReadBytes(const ModelWeights& weights, double context);

}  // namespace gpt2q
