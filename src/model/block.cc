// Embedding, block, attention module, MLP and head of the GPT-2 forward pass.
#include "model/block.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"

namespace gpt2q {
namespace {

// Queries per attention task: fixed, so that results never depend on the thread count.
constexpr int64_t kQueriesPerTask = 64;

// Runs fn(first_row, n_rows) over n rows in the block's fixed chunks.
template <typename Fn>
void ForRowChunks(ThreadPool& pool, int64_t n, Fn&& fn) {
  pool.ParallelForChunks(n, kBlockRowsPerTask, fn);
}

// Shows x to the hooks; returns false when the run stops here (stop_after).
bool See(const BlockHooks* hooks, BlockLinear which, const float* x, int64_t rows, int64_t cols) {
  if (hooks == nullptr) return true;
  if (hooks->on_linear_input) hooks->on_linear_input(which, x, rows, cols);
  return hooks->stop_after != which;
}

}  // namespace

const char* BlockLinearName(BlockLinear which) {
  switch (which) {
    case BlockLinear::kAttnCAttn: return "attn.c_attn";
    case BlockLinear::kAttnCProj: return "attn.c_proj";
    case BlockLinear::kMlpCFc: return "mlp.c_fc";
    default: return "mlp.c_proj";
  }
}

std::shared_ptr<WeightMatrix>& BlockLinearMatrix(BlockWeights& w, BlockLinear which) {
  switch (which) {
    case BlockLinear::kAttnCAttn: return w.attn_c_attn;
    case BlockLinear::kAttnCProj: return w.attn_c_proj;
    case BlockLinear::kMlpCFc: return w.mlp_c_fc;
    default: return w.mlp_c_proj;
  }
}

const std::shared_ptr<WeightMatrix>& BlockLinearMatrix(const BlockWeights& w, BlockLinear which) {
  return BlockLinearMatrix(const_cast<BlockWeights&>(w), which);
}

FloatSpan& BlockLinearBias(BlockWeights& w, BlockLinear which) {
  switch (which) {
    case BlockLinear::kAttnCAttn: return w.attn_c_attn_bias;
    case BlockLinear::kAttnCProj: return w.attn_c_proj_bias;
    case BlockLinear::kMlpCFc: return w.mlp_c_fc_bias;
    default: return w.mlp_c_proj_bias;
  }
}

int64_t BlockScratch::Bytes(const GPT2Config& c, int64_t rows) {
  return rows * (c.n_embd + 3 * c.n_embd + c.n_embd + c.n_inner) * static_cast<int64_t>(sizeof(float));
}

void BlockScratch::Reserve(const GPT2Config& c, int64_t rows) {
  if (rows <= rows_) return;
  a_ = AlignedBuffer(static_cast<size_t>(rows * c.n_embd) * sizeof(float));
  qkv_ = AlignedBuffer(static_cast<size_t>(rows * 3 * c.n_embd) * sizeof(float));
  y_ = AlignedBuffer(static_cast<size_t>(rows * c.n_embd) * sizeof(float));
  f_ = AlignedBuffer(static_cast<size_t>(rows * c.n_inner) * sizeof(float));
  rows_ = rows;
}

void EmbedTokens(const ModelWeights& weights, const int32_t* tokens, int64_t batch, int64_t n_tokens,
                 int64_t first_pos, float* x, ThreadPool& pool) {
  const GPT2Config& cfg = weights.config;
  const int64_t C = cfg.n_embd, T = n_tokens;
  // Token row of wte (in whatever format it is stored) + position row.
  ForRowChunks(pool, batch * T, [&](int64_t r0, int64_t rows) {
    for (int64_t r = r0; r < r0 + rows; ++r) {
      const int32_t token = tokens[r];
      GPT2Q_CHECK(token >= 0 && token < cfg.n_vocab);
      weights.wte->DequantizeRow(token, x + r * C);
      const float* pos = weights.wpe.data + (first_pos + r % T) * C;
      for (int64_t i = 0; i < C; ++i) x[r * C + i] += pos[i];
    }
  });
}

bool RunAttention(const GPT2Config& cfg, const BlockWeights& w, const float* a, int64_t batch,
                  int64_t n_tokens, KVCache& cache, int64_t l, float* out, BlockScratch& s,
                  const BlockHooks* hooks, ThreadPool& pool) {
  const int64_t B = batch, T = n_tokens, P = cache.length();
  const int64_t C = cfg.n_embd, H = cfg.n_head, D = cfg.head_dim(), N = B * T;
  GPT2Q_CHECK(B == cache.batch() && P + T <= cache.capacity());
  float* qkv = s.qkv();
  float* att = s.a();
  if (!See(hooks, BlockLinear::kAttnCAttn, a, N, C)) return false;
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
        std::memcpy(cache.values(l, b, h) + pos * D, qkv + r * 3 * C + 2 * C + h * D, D * sizeof(float));
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
    args.out = att + (b * T + t0) * C + h * D;
    args.out_stride = C;
    args.n_queries = std::min(kQueriesPerTask, T - t0);
    args.first_query_pos = P + t0;
    args.head_dim = D;
    CausalAttention(args);
  });
  if (!See(hooks, BlockLinear::kAttnCProj, att, N, C)) return false;
  w.attn_c_proj->Multiply(att, N, out, pool);
  return true;
}

bool RunMlp(const GPT2Config& cfg, const BlockWeights& w, const float* a, int64_t N, float* out,
            BlockScratch& s, const BlockHooks* hooks, ThreadPool& pool) {
  const int64_t C = cfg.n_embd, F = cfg.n_inner;
  float* f = s.f();
  if (!See(hooks, BlockLinear::kMlpCFc, a, N, C)) return false;
  w.mlp_c_fc->Multiply(a, N, f, pool);
  const float* act_scale = w.mlp_act_scale.data;
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    AddBias(f + r0 * F, rows, F, w.mlp_c_fc_bias.data);
    GeluTanh(f + r0 * F, rows * F);
    if (act_scale != nullptr) {  // llm-awq's ScaledActivation: GELU(x) / scale per channel
      for (int64_t r = r0; r < r0 + rows; ++r) {
        for (int64_t j = 0; j < F; ++j) f[r * F + j] /= act_scale[j];
      }
    }
  });
  if (!See(hooks, BlockLinear::kMlpCProj, f, N, F)) return false;
  w.mlp_c_proj->Multiply(f, N, out, pool);
  return true;
}

void RunBlock(const GPT2Config& cfg, const BlockWeights& w, float* x, int64_t batch, int64_t n_tokens,
              KVCache& cache, int64_t cache_layer, BlockScratch& s, const BlockHooks* hooks,
              ThreadPool& pool) {
  const int64_t C = cfg.n_embd, N = batch * n_tokens;
  const float eps = cfg.layer_norm_epsilon;
  float* a = s.a();
  float* y = s.y();
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    LayerNorm(x + r0 * C, rows, C, w.ln_1_weight.data, w.ln_1_bias.data, eps, a + r0 * C);
  });
  if (!RunAttention(cfg, w, a, batch, n_tokens, cache, cache_layer, y, s, hooks, pool)) return;
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    AddResidual(x + r0 * C, y + r0 * C, rows, C, w.attn_c_proj_bias.data);
    LayerNorm(x + r0 * C, rows, C, w.ln_2_weight.data, w.ln_2_bias.data, eps, a + r0 * C);
  });
  if (!RunMlp(cfg, w, a, N, y, s, hooks, pool)) return;
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    AddResidual(x + r0 * C, y + r0 * C, rows, C, w.mlp_c_proj_bias.data);
  });
}

void RunHead(const ModelWeights& weights, const float* x, int64_t rows, float* logits, BlockScratch& s,
             ThreadPool& pool) {
  const int64_t C = weights.config.n_embd;
  float* a = s.a();
  ForRowChunks(pool, rows, [&](int64_t r0, int64_t n) {
    LayerNorm(x + r0 * C, n, C, weights.ln_f_weight.data, weights.ln_f_bias.data,
              weights.config.layer_norm_epsilon, a + r0 * C);
  });
  weights.lm_head->Multiply(a, rows, logits, pool);
}

}  // namespace gpt2q
