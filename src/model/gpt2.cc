// GPT-2 forward pass. Shape letters: B sequences, T new tokens, P cached
// positions, C = n_embd, H heads of D = C/H, F = n_inner, V = n_vocab.
#include "model/gpt2.h"

#include <algorithm>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/check.h"
#include "model/block.h"

namespace gpt2q {

GPT2::GPT2(ModelWeights weights) : weights_(std::move(weights)) {
  GPT2Q_CHECK(weights_.wte && weights_.lm_head);
  GPT2Q_CHECK(static_cast<int64_t>(weights_.blocks.size()) == weights_.config.n_layer);
}

int64_t GPT2::ScratchBytes(int64_t batch, int64_t n_tokens) const {
  const GPT2Config& c = config();
  const int64_t rows = batch * n_tokens;
  return rows * c.n_embd * static_cast<int64_t>(sizeof(float)) + BlockScratch::Bytes(c, rows);
}

void GPT2::Forward(const int32_t* tokens, int64_t batch, int64_t n_tokens, KVCache& cache,
                   LogitsMode mode, float* logits, ThreadPool& pool) const {
  const GPT2Config& cfg = config();
  const int64_t B = batch, T = n_tokens, P = cache.length();
  const int64_t C = cfg.n_embd;
  const int64_t N = B * T;
  GPT2Q_CHECK(B == cache.batch() && T > 0);
  GPT2Q_CHECK(P + T <= cache.capacity() && P + T <= cfg.n_ctx);

  AlignedBuffer x_buf(N * C * sizeof(float));
  float* x = x_buf.as<float>();  // residual stream (N, C)
  BlockScratch scratch;
  scratch.Reserve(cfg, N);

  EmbedTokens(weights_, tokens, B, T, P, x, pool);
  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    RunBlock(cfg, weights_.blocks[l], x, B, T, cache, l, scratch, nullptr, pool);
  }
  cache.set_length(P + T);

  // Final LayerNorm on the rows whose logits are wanted, then the head.
  const float* head_in = x;
  int64_t head_rows = N;
  if (mode == LogitsMode::kLast) {
    float* y = scratch.y();
    for (int64_t b = 0; b < B; ++b) std::memcpy(y + b * C, x + (b * T + T - 1) * C, C * sizeof(float));
    head_in = y;
    head_rows = B;
  }
  RunHead(weights_, head_in, head_rows, logits, scratch, pool);
}

}  // namespace gpt2q
