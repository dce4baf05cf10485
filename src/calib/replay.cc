// BlockReplay: one block at a time over every calibration window, in chunks.
#include "calib/replay.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"

namespace gpt2q {
namespace {

// Rows (tokens) per chunk: bounds the chunk's activations (for gpt2-xl shapes
// about 57 KB a row, so ~115 MB) while keeping matrix products large.
constexpr int64_t kChunkRows = 2048;

GPT2Config OneLayer(GPT2Config c) {
  c.n_layer = 1;
  return c;
}

int64_t ChunkWindows(const CalibrationWindows& w) {
  return std::clamp<int64_t>(kChunkRows / std::max<int64_t>(w.len, 1), 1, std::max<int64_t>(w.n, 1));
}

}  // namespace

BlockReplay::BlockReplay(const ModelWeights& weights, const CalibrationWindows& windows, ThreadPool& pool)
    : weights_(weights),
      windows_(windows),
      pool_(pool),
      layer_config_(OneLayer(weights.config)),
      chunk_(ChunkWindows(windows)),
      inputs_(static_cast<size_t>(windows.rows() * weights.config.n_embd) * sizeof(float)),
      outputs_(static_cast<size_t>(windows.rows() * weights.config.n_embd) * sizeof(float)),
      cache_(layer_config_, chunk_, std::max<int64_t>(windows.len, 1)) {
  GPT2Q_CHECK(windows.n >= 1 && windows.len >= 1 && windows.len <= weights.config.n_ctx);
  GPT2Q_CHECK(static_cast<int64_t>(windows.tokens.size()) == windows.rows());
  scratch_.Reserve(weights.config, chunk_ * windows.len);
  EmbedTokens(weights_, windows.tokens.data(), windows.n, windows.len, 0, inputs_.as<float>(), pool_);
}

int64_t BlockReplay::HeldBytes() const {
  return static_cast<int64_t>(inputs_.size() + outputs_.size()) + cache_.bytes() +
         BlockScratch::Bytes(weights_.config, chunk_ * windows_.len);
}

void BlockReplay::Run(const BlockWeights& w, const BlockHooks* hooks, float* outputs) {
  GPT2Q_CHECK(outputs != inputs());
  GPT2Q_CHECK(outputs == nullptr || hooks == nullptr || !hooks->stop_after);
  const int64_t C = weights_.config.n_embd, L = windows_.len;
  float* x = outputs != nullptr ? outputs : outputs_.as<float>();
  for (int64_t w0 = 0; w0 < windows_.n; w0 += chunk_) {
    const int64_t count = std::min(chunk_, windows_.n - w0);
    // The KV cache is sized for chunk_ windows; a short last chunk uses its own.
    KVCache short_cache(layer_config_, count == chunk_ ? 1 : count, L);
    KVCache& cache = count == chunk_ ? cache_ : short_cache;
    cache.Clear();
    float* xc = x + w0 * L * C;
    std::memcpy(xc, inputs() + w0 * L * C, static_cast<size_t>(count * L * C) * sizeof(float));
    RunBlock(weights_.config, w, xc, count, L, cache, 0, scratch_, hooks, pool_);
  }
}

void BlockReplay::Advance(const BlockWeights& w, const BlockHooks* hooks) {
  GPT2Q_CHECK(hooks == nullptr || !hooks->stop_after);
  Run(w, hooks, outputs_.as<float>());
  std::swap(inputs_, outputs_);
  ++block_;
}

void BlockReplay::RunAttentionModule(const BlockWeights& w, const float* a, float* out) {
  const int64_t C = weights_.config.n_embd, L = windows_.len;
  for (int64_t w0 = 0; w0 < windows_.n; w0 += chunk_) {
    const int64_t count = std::min(chunk_, windows_.n - w0);
    KVCache short_cache(layer_config_, count == chunk_ ? 1 : count, L);
    KVCache& cache = count == chunk_ ? cache_ : short_cache;
    cache.Clear();
    RunAttention(weights_.config, w, a + w0 * L * C, count, L, cache, 0, out + w0 * L * C, scratch_,
                 nullptr, pool_);
  }
}

void BlockReplay::RunMlpModule(const BlockWeights& w, const float* a, float* out) {
  const int64_t C = weights_.config.n_embd, L = windows_.len;
  for (int64_t w0 = 0; w0 < windows_.n; w0 += chunk_) {
    const int64_t rows = std::min(chunk_, windows_.n - w0) * L;
    RunMlp(weights_.config, w, a + w0 * L * C, rows, out + w0 * L * C, scratch_, nullptr, pool_);
  }
}

}  // namespace gpt2q
