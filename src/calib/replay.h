// The calibration layer: replaying a model block by block over calibration
// windows, for methods that need the model's activations (SmoothQuant, GPTQ,
// AWQ, ZeroQuant-LKD). Sits between quant (the methods) and model.
//
// How a method uses it
// --------------------
//   BlockReplay replay(weights, windows, pool);   // embeds every window: block 0's inputs
//   for (b = 0; b < n_layer; ++b) {
//     // 1. Observe: run block b (the model's weights or any candidate
//     //    BlockWeights) over all windows; hooks see every linear's input.
//     replay.Run(block, &hooks, /*outputs=*/nullptr);
//     // 2. Decide and change block b: fold scales (calib/folds.h), replace
//     //    matrices (BlockLinearMatrix(block, which) = quantized).
//     // 3. Advance: run block b as it now is; its outputs become block b+1's inputs.
//     replay.Advance(block);
//   }
// - SmoothQuant: Advance with hooks taking max|x| at ln_1/ln_2 outputs of
//   the fp32 block, fold s into ln_1→c_attn and ln_2→c_fc, quantize its
//   linears (act=static: Run for those maxima, fold, then Advance with the
//   smoothed fp32 block and hooks taking each linear's static maximum).
// - GPTQ (sequential): for each linear in forward order, Run with a hook that
//   accumulates that linear's Hessian (earlier linears of the block already
//   replaced by their quantized versions), quantize it; then Advance with the
//   quantized block, so block b+1 sees the quantized model's outputs.
// - AWQ (fp32 activations): Run once, keeping each linear's inputs for all
//   windows (InputsOf-style hooks); evaluate candidate weights with
//   RunAttentionModule / RunMlpModule / WeightMatrix::Multiply on those
//   inputs; fold the chosen scales (LayerNorm, V columns + bias, GELU scale);
//   Advance with the fp32 block (AWQ's activations never see quantization).
//
// Memory: the replay holds one block's inputs and one block's outputs for all
// windows ([N·L, n_embd] each) plus the scratch of one chunk of windows
// (activations and a one-layer KV cache) — never a KV cache for every layer.
// Results do not depend on the thread count or on the chunk size (the forward
// pass is row-independent).
#pragma once

#include <cstdint>

#include "calib/windows.h"
#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "model/block.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gpt2q {

class BlockReplay {
 public:
  // Embeds every window (wte + wpe at positions 0..L−1): the inputs of block 0.
  // `weights` and `windows` must outlive the replay. windows.len <= n_ctx.
  BlockReplay(const ModelWeights& weights, const CalibrationWindows& windows, ThreadPool& pool);

  // The block whose inputs are held (0 .. n_layer; n_layer after the last Advance).
  int64_t block() const { return block_; }
  // N·L: calibration tokens over all windows.
  int64_t rows() const { return windows_.rows(); }
  // Hidden states entering block(): [rows(), n_embd], window-major.
  const float* inputs() const { return inputs_.as<float>(); }

  // Runs `w` (block()'s weights or a candidate of the same shapes) over every
  // window, from inputs(), a chunk of windows at a time; hooks (may be null)
  // see each linear's input for the chunk's rows (consecutive calls cover the
  // windows in order). Writes the block's outputs [rows(), n_embd] to
  // `outputs` when not null (it must not be inputs(); and must be null when
  // hooks->stop_after cuts the run short).
  void Run(const BlockWeights& w, const BlockHooks* hooks, float* outputs);

  // Runs `w` over every window and makes the outputs the next block's inputs.
  void Advance(const BlockWeights& w, const BlockHooks* hooks = nullptr);

  // The attention module of `w` on `a` [rows(), n_embd] (ln_1 outputs of all
  // windows): out [rows(), n_embd] = c_proj(attention(c_attn(a))) without
  // c_proj's bias. For comparing candidate weights (AWQ's loss).
  void RunAttentionModule(const BlockWeights& w, const float* a, float* out);
  // The MLP of `w` on `a` [rows(), n_embd] (ln_2 outputs): out = c_proj(GELU(c_fc(a)))
  // without c_proj's bias.
  void RunMlpModule(const BlockWeights& w, const float* a, float* out);

  // Windows per chunk, and the bytes the replay holds: inputs, outputs,
  // chunk scratch and the chunk's one-layer KV cache.
  int64_t windows_per_chunk() const { return chunk_; }
  int64_t HeldBytes() const;

 private:
  const ModelWeights& weights_;
  const CalibrationWindows& windows_;
  ThreadPool& pool_;
  GPT2Config layer_config_;  // the model's config with n_layer = 1 (the chunk's KV cache)
  int64_t chunk_;
  int64_t block_ = 0;
  AlignedBuffer inputs_, outputs_;
  BlockScratch scratch_;
  KVCache cache_;
};

}  // namespace gpt2q
