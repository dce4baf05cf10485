// KVCache storage: one buffer, layer-major.
#include "model/kv_cache.h"

#include "core/check.h"

namespace gpt2q {

KVCache::KVCache(const GPT2Config& config, int64_t batch, int64_t capacity)
    : n_layer_(config.n_layer),
      n_head_(config.n_head),
      head_dim_(config.head_dim()),
      batch_(batch),
      capacity_(capacity),
      buffer_(static_cast<size_t>(config.n_layer * 2 * batch * config.n_embd * capacity) *
              sizeof(float)) {
  GPT2Q_CHECK(batch > 0 && capacity > 0);
}

float* KVCache::keys(int64_t layer, int64_t b, int64_t h) {
  GPT2Q_DCHECK(layer < n_layer_ && b < batch_ && h < n_head_);
  int64_t slab = ((layer * 2 + 0) * batch_ + b) * n_head_ + h;
  return buffer_.as<float>() + slab * capacity_ * head_dim_;
}

float* KVCache::values(int64_t layer, int64_t b, int64_t h) {
  GPT2Q_DCHECK(layer < n_layer_ && b < batch_ && h < n_head_);
  int64_t slab = ((layer * 2 + 1) * batch_ + b) * n_head_ + h;
  return buffer_.as<float>() + slab * capacity_ * head_dim_;
}

}  // namespace gpt2q
