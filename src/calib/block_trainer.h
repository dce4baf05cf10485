// ZeroQuant's layer-by-layer knowledge distillation of one block (spec §3):
// the student is the block with its trained linear weights fake-quantized on
// the fly (straight-through gradients), the teacher is the fp32 block; the
// loss is the mean squared error between their outputs on the same fp32
// inputs; Adam updates the trained linear weights only (biases, LayerNorms
// and untrained linears stay as they are).
//
// Determinism: mini-batches follow a fixed order (a seeded shuffle of the
// windows per epoch, see DistillBlock), every kernel runs in fixed chunks
// (calib/block_backprop.h) and every sum in a fixed order, so the same call
// gives bit-identical weights for any thread count.
//
// Memory: one mini-batch's activations and gradients (BlockActivations), the
// trained weights with their gradients and Adam moments, the fake-quantized
// copies; the inputs and targets of all windows are the caller's.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "model/block.h"
#include "model/config.h"

namespace gpt2q {

struct DistillOptions {
  int64_t steps = 100;  // Adam steps
  int64_t batch = 4;    // windows per mini-batch (≤ the number of windows)
  double lr = 1e-4;     // Adam's learning rate
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, with bias correction (torch.optim.Adam)
  uint64_t seed = 0;    // of the mini-batch order
};

// Writes the quantize-dequantize of w [rows, cols] ([out, in]) to wq.
using FakeQuantizer = std::function<Status(const float* w, int64_t rows, int64_t cols, float* wq)>;

struct DistillResult {
  // MSE over all windows (every token and channel) of the student with its
  // starting weights fake-quantized (round-to-nearest), and after training.
  double loss_before = 0, loss_after = 0;
  std::vector<double> step_loss;  // each step's mini-batch MSE, before its update
  // The trained fp32 weights [out, in] of the trained linears (empty for the others).
  std::array<std::vector<float>, kBlockLinears> weights;
};

// Called after each step with (step done, total steps, that step's loss).
using DistillProgress = std::function<void(int64_t step, int64_t steps, double loss)>;

// Distills `block` (its linears in any format: dequantized to fp32 as the
// starting point) on `n_windows` windows of `len` tokens: inputs and targets
// [n_windows·len, n_embd] are the fp32 model's hidden states entering and
// leaving the block. train[k] selects the linears that are fake-quantized and
// trained. Step s uses the windows at positions s·batch .. s·batch+batch−1 of
// an endless sequence of permutations of 0..n_windows−1 (Fisher–Yates driven
// by std::mt19937_64(seed), one permutation per epoch).
// Errors: batch < 1 or > n_windows, steps < 1, a non-positive or non-finite
// lr, a block with a GELU scale, a quantizer error, a non-finite loss.
Result<DistillResult> DistillBlock(const GPT2Config& config, const BlockWeights& block,
                                   const std::array<bool, kBlockLinears>& train, const float* inputs,
                                   const float* targets, int64_t n_windows, int64_t len,
                                   const DistillOptions& options, const FakeQuantizer& quantize,
                                   ThreadPool& pool, const DistillProgress& progress = {});

}  // namespace gpt2q
