// KVCache: the keys and values of every layer for a batch of sequences.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.h"
#include "model/config.h"

namespace gpt2q {

// Layout per layer: K and V as [batch, n_head, capacity, head_dim] fp32.
class KVCache {
 public:
  KVCache(const GPT2Config& config, int64_t batch, int64_t capacity);

  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  // Number of positions already stored (the same for every sequence).
  int64_t length() const { return length_; }
  void set_length(int64_t length) { length_ = length; }
  void Clear() { length_ = 0; }

  // Returns K or V of `layer` for sequence `b`, head `h`: [capacity, head_dim].
  float* keys(int64_t layer, int64_t b, int64_t h);
  float* values(int64_t layer, int64_t b, int64_t h);
  int64_t bytes() const { return static_cast<int64_t>(buffer_.size()); }

 private:
  int64_t n_layer_, n_head_, head_dim_, batch_, capacity_;
  int64_t length_ = 0;
  AlignedBuffer buffer_;
};

}  // namespace gpt2q
