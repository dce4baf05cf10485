// GPT-2 forward pass. Shape letters: B sequences, T new tokens, P cached
// positions, C = n_embd, H heads of D = C/H, F = n_inner, V = n_vocab.
#include "model/gpt2.h"

#include <algorithm>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/check.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"

namespace gpt2q {
namespace {

// Rows per task for row-wise kernels, and queries per attention task: fixed,
// so that results never depend on the thread count.
constexpr int64_t kRowsPerTask = 16;
constexpr int64_t kQueriesPerTask = 64;

// Runs fn(first_row, n_rows) over n rows in fixed chunks on the pool.
template <typename Fn>
void ForRowChunks(ThreadPool& pool, int64_t n, Fn&& fn) {
  const int64_t tasks = (n + kRowsPerTask - 1) / kRowsPerTask;
  pool.ParallelFor(tasks, [&](int64_t t) {
    const int64_t r0 = t * kRowsPerTask;
    fn(r0, std::min(kRowsPerTask, n - r0));
  });
}

}  // namespace

GPT2::GPT2(ModelWeights weights) : weights_(std::move(weights)) {
  GPT2Q_CHECK(weights_.wte && weights_.lm_head);
  GPT2Q_CHECK(static_cast<int64_t>(weights_.blocks.size()) == weights_.config.n_layer);
}

int64_t GPT2::ScratchBytes(int64_t batch, int64_t n_tokens) const {
  const GPT2Config& c = config();
  const int64_t rows = batch * n_tokens;
  // Forward's buffers: x, a and y (C each), qkv (3C) and the MLP hidden (F).
  return rows * (3 * c.n_embd + 3 * c.n_embd + c.n_inner) * static_cast<int64_t>(sizeof(float));
}

void GPT2::Forward(const int32_t* tokens, int64_t batch, int64_t n_tokens, KVCache& cache,
                   LogitsMode mode, float* logits, ThreadPool& pool) const {
  const GPT2Config& cfg = config();
  const int64_t B = batch, T = n_tokens, P = cache.length();
  const int64_t C = cfg.n_embd, H = cfg.n_head, D = cfg.head_dim(), F = cfg.n_inner;
  const int64_t N = B * T;
  GPT2Q_CHECK(B == cache.batch() && T > 0);
  GPT2Q_CHECK(P + T <= cache.capacity() && P + T <= cfg.n_ctx);

  AlignedBuffer x_buf(N * C * sizeof(float)), a_buf(N * C * sizeof(float));
  AlignedBuffer qkv_buf(N * 3 * C * sizeof(float)), y_buf(N * C * sizeof(float));
  AlignedBuffer f_buf(N * F * sizeof(float));
  float* x = x_buf.as<float>();      // residual stream (N, C)
  float* a = a_buf.as<float>();      // LayerNorm output / attention output (N, C)
  float* qkv = qkv_buf.as<float>();  // (N, 3C)
  float* y = y_buf.as<float>();      // projection output (N, C)
  float* f = f_buf.as<float>();      // MLP hidden (N, F)

  // Embeddings: token row of wte (in whatever format it is stored) + position row.
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    for (int64_t r = r0; r < r0 + rows; ++r) {
      const int32_t token = tokens[r];
      GPT2Q_CHECK(token >= 0 && token < cfg.n_vocab);
      weights_.wte->DequantizeRow(token, x + r * C);
      const float* pos = weights_.wpe.data + (P + r % T) * C;
      for (int64_t i = 0; i < C; ++i) x[r * C + i] += pos[i];
    }
  });

  for (int64_t l = 0; l < cfg.n_layer; ++l) {
    const BlockWeights& w = weights_.blocks[l];
    const float eps = cfg.layer_norm_epsilon;
    ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
      LayerNorm(x + r0 * C, rows, C, w.ln_1_weight.data, w.ln_1_bias.data, eps, a + r0 * C);
    });
    w.attn_c_attn->Multiply(a, N, qkv, pool);
    ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
      AddBias(qkv + r0 * 3 * C, rows, 3 * C, w.attn_c_attn_bias.data);
    });
    // Append this step's keys and values to the cache.
    ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
      for (int64_t r = r0; r < r0 + rows; ++r) {
        const int64_t b = r / T, pos = P + r % T;
        for (int64_t h = 0; h < H; ++h) {
          std::memcpy(cache.keys(l, b, h) + pos * D, qkv + r * 3 * C + C + h * D, D * sizeof(float));
          std::memcpy(cache.values(l, b, h) + pos * D, qkv + r * 3 * C + 2 * C + h * D,
                      D * sizeof(float));
        }
      }
    });
    const int64_t q_blocks = (T + kQueriesPerTask - 1) / kQueriesPerTask;
    pool.ParallelFor(B * H * q_blocks, [&](int64_t task) {
      const int64_t qb = task % q_blocks, h = (task / q_blocks) % H, b = task / (q_blocks * H);
      const int64_t t0 = qb * kQueriesPerTask;
      AttentionArgs args;
      args.q = qkv + (b * T + t0) * 3 * C + h * D;
      args.q_stride = 3 * C;
      args.k = cache.keys(l, b, h);
      args.v = cache.values(l, b, h);
      args.out = a + (b * T + t0) * C + h * D;
      args.out_stride = C;
      args.n_queries = std::min(kQueriesPerTask, T - t0);
      args.first_query_pos = P + t0;
      args.head_dim = D;
      CausalAttention(args);
    });
    w.attn_c_proj->Multiply(a, N, y, pool);
    ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
      AddResidual(x + r0 * C, y + r0 * C, rows, C, w.attn_c_proj_bias.data);
      LayerNorm(x + r0 * C, rows, C, w.ln_2_weight.data, w.ln_2_bias.data, eps, a + r0 * C);
    });
    w.mlp_c_fc->Multiply(a, N, f, pool);
    ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
      AddBias(f + r0 * F, rows, F, w.mlp_c_fc_bias.data);
      GeluTanh(f + r0 * F, rows * F);
    });
    w.mlp_c_proj->Multiply(f, N, y, pool);
    ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
      AddResidual(x + r0 * C, y + r0 * C, rows, C, w.mlp_c_proj_bias.data);
    });
  }
  cache.set_length(P + T);

  // Final LayerNorm on the rows whose logits are wanted, then the head.
  const float* head_in = x;
  int64_t head_rows = N;
  if (mode == LogitsMode::kLast) {
    for (int64_t b = 0; b < B; ++b) std::memcpy(y + b * C, x + (b * T + T - 1) * C, C * sizeof(float));
    head_in = y;
    head_rows = B;
  }
  ForRowChunks(pool, head_rows, [&](int64_t r0, int64_t rows) {
    LayerNorm(head_in + r0 * C, rows, C, weights_.ln_f_weight.data, weights_.ln_f_bias.data,
              cfg.layer_norm_epsilon, a + r0 * C);
  });
  weights_.lm_head->Multiply(a, head_rows, logits, pool);
}

}  // namespace gpt2q
