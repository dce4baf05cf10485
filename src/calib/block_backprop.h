// One GPT-2 block's forward pass keeping its activations, and its backward
// pass: the gradients of the four linear weights (and of the block's input)
// from the gradient of its output. For ZeroQuant's layer-by-layer
// distillation (calib/block_trainer.h), on B calibration windows of T tokens,
// each an independent sequence at positions 0..T−1.
//
// Shape letters: B windows, T tokens each, N = B·T rows, C = n_embd,
// F = n_inner, H = n_head, D = C/H. Linear weights are fp32 [out, in]:
// c_attn [3C, C], attn.c_proj [C, C], c_fc [F, C], mlp.c_proj [C, F].
//
// The arithmetic is the model's (model/block.h: LayerNorm, SGEMM products,
// SoftmaxRow, GeluTanh), in fixed chunks of rows / (window, head) pairs, so
// results do not depend on the thread count.
#pragma once

#include <array>
#include <cstdint>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "model/block.h"
#include "model/config.h"

namespace gpt2q {

// The values one block run uses, all fp32 and not owned. w[k] and bias[k] are
// linear k in BlockLinear order (c_attn, attn.c_proj, c_fc, mlp.c_proj).
struct BlockTensors {
  const float* ln_1_weight = nullptr;
  const float* ln_1_bias = nullptr;
  const float* ln_2_weight = nullptr;
  const float* ln_2_bias = nullptr;
  std::array<const float*, kBlockLinears> w{};
  std::array<const float*, kBlockLinears> bias{};
};

// Activations of one forward over B windows (kept for the backward) and the
// backward's scratch; grows on demand, reused across calls.
class BlockActivations {
 public:
  // Makes room for `batch` windows of `n_tokens` tokens of `config`'s shapes.
  void Reserve(const GPT2Config& config, int64_t batch, int64_t n_tokens);
  // Returns the bytes Reserve(config, batch, n_tokens) allocates.
  static int64_t Bytes(const GPT2Config& config, int64_t batch, int64_t n_tokens);

  // The block's output [N, C] after BlockForwardTrain.
  const float* out() const { return out_.as<float>(); }

 private:
  friend void BlockForwardTrain(const GPT2Config&, const BlockTensors&, const float*, int64_t, int64_t,
                                BlockActivations&, ThreadPool&);
  friend void BlockBackward(const GPT2Config&, const BlockTensors&, BlockActivations&, const float*,
                            const std::array<float*, kBlockLinears>&, float*, ThreadPool&);

  int64_t rows_ = 0, probs_ = 0;
  int64_t batch_ = 0, n_tokens_ = 0;
  const float* x_ = nullptr;  // the input of the last forward (not owned)
  // Forward: ln_1 out, c_attn out, attention probabilities [B, H, T, T],
  // attention out, residual after attention, ln_2 out, c_fc out (before GELU),
  // GELU out, block out.
  AlignedBuffer ln1_, qkv_, probs_buf_, att_, x2_, ln2_, h_, g_, out_;
  // Backward scratch: d(residual after attention), d(c_fc out), d(LayerNorm
  // out), d(attention out), d(c_attn out).
  AlignedBuffer dx2_, dh_, da_, datt_, dqkv_;
};

// Runs the block on x [N, C] (B windows of T tokens; kept by pointer until
// the backward): out = x2 + c_proj(GELU(c_fc(ln_2(x2)))), x2 = x +
// attn.c_proj(attention(c_attn(ln_1(x)))), biases included. The block must
// not have a GELU scale (BlockWeights::mlp_act_scale). T ≤ n_ctx.
void BlockForwardTrain(const GPT2Config& config, const BlockTensors& w, const float* x, int64_t batch,
                       int64_t n_tokens, BlockActivations& acts, ThreadPool& pool);

// Backward of the last BlockForwardTrain of `acts` given dout = dL/d(out)
// [N, C]: overwrites dw[k] [out_k, in_k] with dL/dw[k] for each k whose dw[k]
// is not null, and dx [N, C] with dL/dx when dx is not null. Biases and
// LayerNorms get no gradient (they are not trained).
void BlockBackward(const GPT2Config& config, const BlockTensors& w, BlockActivations& acts, const float* dout,
                   const std::array<float*, kBlockLinears>& dw, float* dx, ThreadPool& pool);

}  // namespace gpt2q
