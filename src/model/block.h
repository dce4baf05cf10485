// The pieces of GPT-2's forward pass — embedding, one transformer block (and
// its attention module and MLP alone), the head — as free functions over
// ModelWeights / BlockWeights, so that GPT2::Forward and the calibration
// replay (src/calib/) run the one block implementation.
//
// Shape letters: B sequences, T new tokens each, N = B·T rows, P cached
// positions, C = n_embd, F = n_inner, V = n_vocab.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/aligned_buffer.h"
#include "core/thread_pool.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace gpt2q {

// The four linear layers of a block, in forward order.
enum class BlockLinear { kAttnCAttn = 0, kAttnCProj = 1, kMlpCFc = 2, kMlpCProj = 3 };
inline constexpr int kBlockLinears = 4;

// Rows per task of the block's row-wise kernels (LayerNorm, bias, GELU,
// residual): fixed, so that results never depend on the thread count.
inline constexpr int64_t kBlockRowsPerTask = 16;

// Returns "attn.c_attn", "attn.c_proj", "mlp.c_fc" or "mlp.c_proj".
const char* BlockLinearName(BlockLinear which);
// Returns the matrix of `which` in `w` (mutable: a method may replace it).
std::shared_ptr<WeightMatrix>& BlockLinearMatrix(BlockWeights& w, BlockLinear which);
const std::shared_ptr<WeightMatrix>& BlockLinearMatrix(const BlockWeights& w, BlockLinear which);
// Returns the bias of `which` in `w`.
FloatSpan& BlockLinearBias(BlockWeights& w, BlockLinear which);

// Observers of a block's run. Called on the calling thread between kernels.
struct BlockHooks {
  // Sees the input x [rows, cols] of linear `which` just before it multiplies
  // (ln_1 output, attention output, ln_2 output, GELU output — the GELU output
  // divided by the block's act_scale when it has one).
  std::function<void(BlockLinear which, const float* x, int64_t rows, int64_t cols)> on_linear_input;
  // When set, the run stops right after on_linear_input saw this linear's
  // input: the rest of the block is not computed and its outputs are
  // undefined (for a pass that only collects one linear's inputs).
  std::optional<BlockLinear> stop_after;
};

// Scratch memory of one block run over N rows; grows on demand, reused.
class BlockScratch {
 public:
  // Makes room for `rows` rows of `config`'s shapes.
  void Reserve(const GPT2Config& config, int64_t rows);
  // Returns the bytes a run over `rows` rows needs.
  static int64_t Bytes(const GPT2Config& config, int64_t rows);

  float* a() { return a_.as<float>(); }      // LayerNorm / attention output (N, C)
  float* qkv() { return qkv_.as<float>(); }  // (N, 3C)
  float* y() { return y_.as<float>(); }      // projection output (N, C)
  float* f() { return f_.as<float>(); }      // MLP hidden (N, F)

 private:
  int64_t rows_ = 0;
  AlignedBuffer a_, qkv_, y_, f_;
};

// x [N, C] = wte[token] + wpe[first_pos + t] for tokens [B, T] (ids checked
// in [0, n_vocab): a check aborts otherwise).
void EmbedTokens(const ModelWeights& weights, const int32_t* tokens, int64_t batch, int64_t n_tokens,
                 int64_t first_pos, float* x, ThreadPool& pool);

// The attention module on a [N, C] = ln_1 output `a` of B sequences of T
// tokens at positions P..P+T−1 (P = cache.length()): c_attn (+bias), keys and
// values appended to `cache` layer `cache_layer` (the caller advances
// cache.length()), causal attention into scratch.a(), then c_proj WITHOUT its
// bias into `out` [N, C]. `a` may be scratch.a() (it is consumed first).
// Returns false when hooks->stop_after ended the run early.
bool RunAttention(const GPT2Config& config, const BlockWeights& w, const float* a, int64_t batch,
                  int64_t n_tokens, KVCache& cache, int64_t cache_layer, float* out,
                  BlockScratch& scratch, const BlockHooks* hooks, ThreadPool& pool);

// The MLP on `a` [N, C] = ln_2 output: c_fc (+bias), GELU, the optional
// division by mlp_act_scale, c_proj WITHOUT its bias into `out` [N, C].
// Returns false when hooks->stop_after ended the run early.
bool RunMlp(const GPT2Config& config, const BlockWeights& w, const float* a, int64_t rows, float* out,
            BlockScratch& scratch, const BlockHooks* hooks, ThreadPool& pool);

// One transformer block on the residual stream x [N, C] in place:
// x += attn(ln_1(x)) + c_proj bias; x += mlp(ln_2(x)) + c_proj bias.
// With hooks->stop_after, x is left partly updated (see BlockHooks).
void RunBlock(const GPT2Config& config, const BlockWeights& w, float* x, int64_t batch,
              int64_t n_tokens, KVCache& cache, int64_t cache_layer, BlockScratch& scratch,
              const BlockHooks* hooks, ThreadPool& pool);

// logits [rows, V] = head(ln_f(x [rows, C])); uses scratch.a() for ln_f's output.
void RunHead(const ModelWeights& weights, const float* x, int64_t rows, float* logits,
             BlockScratch& scratch, ThreadPool& pool);

}  // namespace gpt2q
