// BlockReplay: the block-by-block replay gives the full forward pass's
// hidden states bit for bit, sees every linear's input, runs the attention
// module and MLP alone, and holds one block's activations whatever n_layer is.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "calib/replay.h"
#include "core/memory_stats.h"
#include "kernels/elementwise.h"
#include "model/gpt2.h"
#include "model/synthetic.h"

namespace gpt2q {
namespace {

GPT2Config SmallConfig(int64_t n_layer) {
  GPT2Config c;
  c.n_vocab = 300;
  c.n_ctx = 64;
  c.n_embd = 32;
  c.n_layer = n_layer;
  c.n_head = 4;
  c.n_inner = 128;
  return c;
}

// Windows of `len` tokens cut from a deterministic id sequence.
CalibrationWindows MakeWindows(int64_t n, int64_t len, int64_t n_vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(n * len + 37));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 7919 + 13) % n_vocab);
  auto w = MakeCalibrationWindows(ids, n, len, 64, "ids");
  EXPECT_TRUE(w.ok()) << w.message();
  return std::move(w).value();
}

TEST(BlockReplayTest, LastBlockOutputsGiveForwardLogitsBitForBit) {
  ThreadPool pool(2);
  const GPT2Config config = SmallConfig(3);
  GPT2 model(MakeSyntheticModel(config, 5, pool));
  const CalibrationWindows windows = MakeWindows(5, 24, config.n_vocab);
  BlockReplay replay(model.weights(), windows, pool);
  for (int64_t b = 0; b < config.n_layer; ++b) replay.Advance(model.weights().blocks[b]);
  EXPECT_EQ(replay.block(), config.n_layer);

  // One chunk holds all 5 windows here, so the replay multiplies the same
  // matrices as a batched Forward: bit for bit. (Across batch sizes BLAS may
  // sum in another order: close, not identical.)
  ASSERT_EQ(replay.windows_per_chunk(), windows.n);
  BlockScratch scratch;
  scratch.Reserve(config, windows.rows());
  std::vector<float> logits(static_cast<size_t>(windows.rows() * config.n_vocab));
  std::vector<float> expected(logits.size());
  RunHead(model.weights(), replay.inputs(), windows.rows(), logits.data(), scratch, pool);
  KVCache cache(config, windows.n, windows.len);
  model.Forward(windows.tokens.data(), windows.n, windows.len, cache, LogitsMode::kAll, expected.data(), pool);
  EXPECT_EQ(std::memcmp(logits.data(), expected.data(), logits.size() * 4), 0);
  // Window by window (batch 1) the same up to summation order.
  std::vector<float> single(static_cast<size_t>(windows.len * config.n_vocab));
  for (int64_t i = 0; i < windows.n; ++i) {
    KVCache one(config, 1, windows.len);
    model.Forward(windows.window(i), 1, windows.len, one, LogitsMode::kAll, single.data(), pool);
    for (size_t k = 0; k < single.size(); ++k) {
      ASSERT_NEAR(single[k], logits[i * single.size() + k], 1e-5) << "window " << i;
    }
  }
}

TEST(BlockReplayTest, HooksSeeEveryLinearInputOfEveryWindow) {
  ThreadPool pool(1);
  const GPT2Config config = SmallConfig(1);
  const ModelWeights weights = MakeSyntheticModel(config, 6, pool);
  const CalibrationWindows windows = MakeWindows(9, 16, config.n_vocab);
  BlockReplay replay(weights, windows, pool);
  int64_t rows[4] = {0, 0, 0, 0}, cols[4] = {0, 0, 0, 0};
  BlockHooks hooks;
  hooks.on_linear_input = [&](BlockLinear which, const float*, int64_t r, int64_t c) {
    rows[static_cast<int>(which)] += r;
    cols[static_cast<int>(which)] = c;
  };
  replay.Run(weights.blocks[0], &hooks, nullptr);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(rows[k], windows.rows());
  EXPECT_EQ(cols[0], config.n_embd);
  EXPECT_EQ(cols[1], config.n_embd);
  EXPECT_EQ(cols[2], config.n_embd);
  EXPECT_EQ(cols[3], config.n_inner);
  EXPECT_EQ(replay.block(), 0);  // Run observes; only Advance moves on
}

TEST(BlockReplayTest, StopAfterSeesTheSameInputsAndNothingLater) {
  ThreadPool pool(2);
  const GPT2Config config = SmallConfig(1);
  const ModelWeights weights = MakeSyntheticModel(config, 8, pool);
  const CalibrationWindows windows = MakeWindows(7, 16, config.n_vocab);
  BlockReplay replay(weights, windows, pool);
  // Every linear's inputs from a full run ...
  std::vector<float> full[4];
  BlockHooks all;
  all.on_linear_input = [&](BlockLinear which, const float* x, int64_t r, int64_t c) {
    full[static_cast<int>(which)].insert(full[static_cast<int>(which)].end(), x, x + r * c);
  };
  replay.Run(weights.blocks[0], &all, nullptr);
  // ... equal those of runs cut short after each linear, which see no later one.
  for (int stop = 0; stop < 4; ++stop) {
    std::vector<float> seen[4];
    BlockHooks hooks;
    hooks.on_linear_input = [&](BlockLinear which, const float* x, int64_t r, int64_t c) {
      seen[static_cast<int>(which)].insert(seen[static_cast<int>(which)].end(), x, x + r * c);
    };
    hooks.stop_after = static_cast<BlockLinear>(stop);
    replay.Run(weights.blocks[0], &hooks, nullptr);
    for (int k = 0; k < 4; ++k) {
      if (k <= stop) {
        EXPECT_EQ(seen[k], full[k]) << "stop " << stop << " linear " << k;
      } else {
        EXPECT_TRUE(seen[k].empty()) << "stop " << stop << " linear " << k;
      }
    }
  }
}

TEST(BlockReplayTest, ModulesComposeIntoTheBlock) {
  ThreadPool pool(2);
  const GPT2Config config = SmallConfig(1);
  const ModelWeights weights = MakeSyntheticModel(config, 8, pool);
  const CalibrationWindows windows = MakeWindows(3, 20, config.n_vocab);
  BlockReplay replay(weights, windows, pool);
  const BlockWeights& w = weights.blocks[0];
  const int64_t n = windows.rows(), C = config.n_embd;
  std::vector<float> block_out(static_cast<size_t>(n * C));
  replay.Run(w, nullptr, block_out.data());

  std::vector<float> x(replay.inputs(), replay.inputs() + n * C), a(x.size()), y(x.size());
  LayerNorm(x.data(), n, C, w.ln_1_weight.data, w.ln_1_bias.data, config.layer_norm_epsilon, a.data());
  replay.RunAttentionModule(w, a.data(), y.data());
  AddResidual(x.data(), y.data(), n, C, w.attn_c_proj_bias.data);
  LayerNorm(x.data(), n, C, w.ln_2_weight.data, w.ln_2_bias.data, config.layer_norm_epsilon, a.data());
  replay.RunMlpModule(w, a.data(), y.data());
  AddResidual(x.data(), y.data(), n, C, w.mlp_c_proj_bias.data);
  EXPECT_EQ(std::memcmp(x.data(), block_out.data(), x.size() * 4), 0);
}

TEST(BlockReplayTest, ResultsDoNotDependOnThreads) {
  const GPT2Config config = SmallConfig(2);
  ThreadPool one(1), two(2);
  const ModelWeights weights = MakeSyntheticModel(config, 9, one);
  const CalibrationWindows windows = MakeWindows(4, 32, config.n_vocab);
  BlockReplay a(weights, windows, one), b(weights, windows, two);
  for (int64_t l = 0; l < config.n_layer; ++l) {
    a.Advance(weights.blocks[l]);
    b.Advance(weights.blocks[l]);
  }
  EXPECT_EQ(std::memcmp(a.inputs(), b.inputs(), windows.rows() * config.n_embd * 4), 0);
}

// The memory contract by construction: what the replay allocates does not
// grow with the number of blocks it runs through, and is what HeldBytes says.
TEST(BlockReplayTest, HoldsOneBlockOfActivationsWhateverTheDepth) {
  ThreadPool pool(1);
  const CalibrationWindows windows = MakeWindows(6, 64, 300);
  int64_t peaks[2] = {0, 0};
  int64_t held[2] = {0, 0};
  const int64_t layers[2] = {1, 8};
  for (int k = 0; k < 2; ++k) {
    const GPT2Config config = SmallConfig(layers[k]);
    const ModelWeights weights = MakeSyntheticModel(config, 10, pool);
    const int64_t before = TrackedBytes();
    ResetTrackedPeak();
    {
      BlockReplay replay(weights, windows, pool);
      for (int64_t l = 0; l < config.n_layer; ++l) replay.Advance(weights.blocks[l]);
      held[k] = replay.HeldBytes();
    }
    peaks[k] = TrackedPeakBytes() - before;
  }
  EXPECT_EQ(held[0], held[1]);
  const GPT2Config c = SmallConfig(1);
  const int64_t activations = 2 * windows.rows() * c.n_embd * 4;  // one block's inputs + outputs
  EXPECT_GE(held[0], activations);
  EXPECT_EQ(held[0], activations + BlockScratch::Bytes(c, windows.n * windows.len) +
                         2 * windows.n * windows.len * c.n_embd * 4);  // one chunk: all 6 windows here
  // Tracked allocations: what the replay holds plus per-task attention scratch.
  EXPECT_LE(peaks[1], peaks[0] + 64 * 1024);
  EXPECT_LE(peaks[0], held[0] + 256 * 1024);
}

}  // namespace
}  // namespace gpt2q
