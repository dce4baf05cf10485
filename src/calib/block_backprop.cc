// BlockForwardTrain and BlockBackward: one block's training passes.
#include "calib/block_backprop.h"

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "kernels/attention_backward.h"
#include "kernels/elementwise.h"
#include "kernels/elementwise_backward.h"
#include "kernels/linear_backward.h"

namespace gpt2q {
namespace {

// The row-wise kernels run in the forward pass's chunks (model/block.h).
template <typename Fn>
void ForRowChunks(ThreadPool& pool, int64_t n, Fn&& fn) {
  pool.ParallelForChunks(n, kBlockRowsPerTask, fn);
}

AlignedBuffer Floats(int64_t count) { return AlignedBuffer(static_cast<size_t>(count) * sizeof(float)); }

}  // namespace

int64_t BlockActivations::Bytes(const GPT2Config& c, int64_t batch, int64_t n_tokens) {
  const int64_t N = batch * n_tokens, C = c.n_embd, F = c.n_inner;
  const int64_t forward = N * (C + 3 * C + C + C + C + F + F + C) + batch * c.n_head * n_tokens * n_tokens;
  const int64_t backward = N * (C + F + C + C + 3 * C);
  return (forward + backward) * static_cast<int64_t>(sizeof(float));
}

void BlockActivations::Reserve(const GPT2Config& c, int64_t batch, int64_t n_tokens) {
  batch_ = batch;
  n_tokens_ = n_tokens;
  const int64_t N = batch * n_tokens, C = c.n_embd, F = c.n_inner;
  const int64_t probs = batch * c.n_head * n_tokens * n_tokens;
  if (N > rows_) {
    ln1_ = Floats(N * C);
    qkv_ = Floats(N * 3 * C);
    att_ = Floats(N * C);
    x2_ = Floats(N * C);
    ln2_ = Floats(N * C);
    h_ = Floats(N * F);
    g_ = Floats(N * F);
    out_ = Floats(N * C);
    dx2_ = Floats(N * C);
    dh_ = Floats(N * F);
    da_ = Floats(N * C);
    datt_ = Floats(N * C);
    dqkv_ = Floats(N * 3 * C);
    rows_ = N;
  }
  if (probs > probs_) {
    probs_buf_ = Floats(probs);
    probs_ = probs;
  }
}

void BlockForwardTrain(const GPT2Config& cfg, const BlockTensors& w, const float* x, int64_t batch,
                       int64_t n_tokens, BlockActivations& s, ThreadPool& pool) {
  const int64_t B = batch, T = n_tokens, N = B * T;
  const int64_t C = cfg.n_embd, F = cfg.n_inner, H = cfg.n_head, D = cfg.head_dim();
  const float eps = cfg.layer_norm_epsilon;
  GPT2Q_CHECK(T >= 1 && T <= cfg.n_ctx && B >= 1);
  s.Reserve(cfg, B, T);
  s.x_ = x;
  float* ln1 = s.ln1_.as<float>();
  float* qkv = s.qkv_.as<float>();
  float* att = s.att_.as<float>();
  float* x2 = s.x2_.as<float>();
  float* ln2 = s.ln2_.as<float>();
  float* h = s.h_.as<float>();
  float* g = s.g_.as<float>();
  float* out = s.out_.as<float>();
  float* probs = s.probs_buf_.as<float>();

  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    LayerNorm(x + r0 * C, rows, C, w.ln_1_weight, w.ln_1_bias, eps, ln1 + r0 * C);
  });
  LinearForward(ln1, N, C, w.w[0], w.bias[0], 3 * C, qkv, pool);
  pool.ParallelFor(B * H, [&](int64_t task) {
    const int64_t b = task / H, hh = task % H;
    const float* base = qkv + b * T * 3 * C + hh * D;
    const AttentionTrainArgs args{base, base + C, base + 2 * C, 3 * C, T, D};
    CausalAttentionForwardTrain(args, probs + task * T * T, att + b * T * C + hh * D, C);
  });
  LinearForward(att, N, C, w.w[1], w.bias[1], C, x2, pool);
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    AccumulateGradient(x2 + r0 * C, x + r0 * C, rows * C);  // x2 = x + attention branch
    LayerNorm(x2 + r0 * C, rows, C, w.ln_2_weight, w.ln_2_bias, eps, ln2 + r0 * C);
  });
  LinearForward(ln2, N, C, w.w[2], w.bias[2], F, h, pool);
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    std::memcpy(g + r0 * F, h + r0 * F, static_cast<size_t>(rows * F) * sizeof(float));
    GeluTanh(g + r0 * F, rows * F);
  });
  LinearForward(g, N, F, w.w[3], w.bias[3], C, out, pool);
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    AccumulateGradient(out + r0 * C, x2 + r0 * C, rows * C);  // out = x2 + MLP branch
  });
}

void BlockBackward(const GPT2Config& cfg, const BlockTensors& w, BlockActivations& s, const float* dout,
                   const std::array<float*, kBlockLinears>& dw, float* dx, ThreadPool& pool) {
  const int64_t B = s.batch_, T = s.n_tokens_, N = B * T;
  const int64_t C = cfg.n_embd, F = cfg.n_inner, H = cfg.n_head, D = cfg.head_dim();
  const float eps = cfg.layer_norm_epsilon;
  GPT2Q_CHECK(s.x_ != nullptr);
  const float* x = s.x_;
  float* dx2 = s.dx2_.as<float>();
  float* dh = s.dh_.as<float>();
  float* da = s.da_.as<float>();
  float* datt = s.datt_.as<float>();
  float* dqkv = s.dqkv_.as<float>();

  // out = x2 + mlp.c_proj(g): both branches get dout.
  std::memcpy(dx2, dout, static_cast<size_t>(N * C) * sizeof(float));
  if (dw[3] != nullptr) LinearBackwardWeight(dout, N, C, s.g_.as<float>(), F, dw[3], pool);
  LinearBackwardInput(dout, N, C, w.w[3], F, dh, pool);
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    GeluTanhBackward(s.h_.as<float>() + r0 * F, dh + r0 * F, rows * F, dh + r0 * F);
  });
  if (dw[2] != nullptr) LinearBackwardWeight(dh, N, F, s.ln2_.as<float>(), C, dw[2], pool);
  LinearBackwardInput(dh, N, F, w.w[2], C, da, pool);
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    LayerNormBackward(da + r0 * C, s.x2_.as<float>() + r0 * C, rows, C, w.ln_2_weight, eps, dx2 + r0 * C);
  });
  // x2 = x + attn.c_proj(att): both branches get dx2.
  if (dw[1] != nullptr) LinearBackwardWeight(dx2, N, C, s.att_.as<float>(), C, dw[1], pool);
  LinearBackwardInput(dx2, N, C, w.w[1], C, datt, pool);
  const float* qkv = s.qkv_.as<float>();
  const float* probs = s.probs_buf_.as<float>();
  pool.ParallelFor(B * H, [&](int64_t task) {
    const int64_t b = task / H, hh = task % H;
    const float* base = qkv + b * T * 3 * C + hh * D;
    const AttentionTrainArgs args{base, base + C, base + 2 * C, 3 * C, T, D};
    float* dbase = dqkv + b * T * 3 * C + hh * D;
    CausalAttentionBackward(args, probs + task * T * T, datt + b * T * C + hh * D, C, dbase, dbase + C,
                            dbase + 2 * C, 3 * C);
  });
  if (dw[0] != nullptr) LinearBackwardWeight(dqkv, N, 3 * C, s.ln1_.as<float>(), C, dw[0], pool);
  if (dx == nullptr) return;
  LinearBackwardInput(dqkv, N, 3 * C, w.w[0], C, da, pool);
  ForRowChunks(pool, N, [&](int64_t r0, int64_t rows) {
    std::memcpy(dx + r0 * C, dx2 + r0 * C, static_cast<size_t>(rows * C) * sizeof(float));
    LayerNormBackward(da + r0 * C, x + r0 * C, rows, C, w.ln_1_weight, eps, dx + r0 * C);
  });
}

}  // namespace gpt2q
