// GPT2: the forward pass of GPT2LMHeadModel (eval mode) over ModelWeights.
#pragma once

#include <cstdint>
#include <memory>

#include "core/thread_pool.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gpt2q {

enum class LogitsMode {
  kAll,   // logits for every input position
  kLast,  // logits for the last position of each sequence only
};

class GPT2 {
 public:
  explicit GPT2(ModelWeights weights);

  const GPT2Config& config() const { return weights_.config; }
  const ModelWeights& weights() const { return weights_; }
  ModelWeights& mutable_weights() { return weights_; }

  // Runs `tokens` [batch, n_tokens] (row-major) at positions cache.length() ..
  // cache.length() + n_tokens - 1, appends their keys and values to `cache`
  // (batch must equal cache.batch(); cache.length() + n_tokens <= min(capacity, n_ctx)),
  // and writes logits: [batch, n_tokens, n_vocab] for kAll, [batch, n_vocab] for kLast.
  // Token ids must be in [0, n_vocab): the caller checks (a check aborts otherwise).
  void Forward(const int32_t* tokens, int64_t batch, int64_t n_tokens, KVCache& cache,
               LogitsMode mode, float* logits, ThreadPool& pool) const;

  // Returns the bytes of Forward's activation buffers; kernel scratch comes on top.
  int64_t ScratchBytes(int64_t batch, int64_t n_tokens) const;

 private:
  ModelWeights weights_;
};

}  // namespace gpt2q
