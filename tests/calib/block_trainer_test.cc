// The block's training passes and the distillation trainer: BlockForwardTrain
// equals the model's RunBlock; BlockBackward's weight and input gradients
// match central finite differences of a double-precision block; both are
// bit-identical on 1 and 3 threads; DistillBlock lowers the loss,
// deterministically, for any thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "../backward_reference.h"
#include "../random_values.h"
#include "calib/block_backprop.h"
#include "calib/block_trainer.h"
#include "formats/format.h"
#include "formats/fp32_matrix.h"
#include "kernels/blas.h"
#include "model/block.h"
#include "model/kv_cache.h"

namespace gpt2q {
namespace {

using testing::Doubles;

GPT2Config SmallConfig() {
  GPT2Config c;
  c.n_vocab = 100;
  c.n_ctx = 32;
  c.n_embd = 16;
  c.n_layer = 1;
  c.n_head = 2;
  c.n_inner = 64;
  return c;
}

// A block of random values (LayerNorm gains around 1, non-zero biases,
// weights of scale 0.2) as BlockWeights (fp32 matrix views) and BlockTensors.
struct RandomBlock {
  std::vector<std::vector<float>> store;
  BlockWeights weights;
  BlockTensors tensors;

  RandomBlock(const GPT2Config& c, uint32_t seed) {
    const int64_t C = c.n_embd, F = c.n_inner;
    const int64_t sizes[4][2] = {{3 * C, C}, {C, C}, {F, C}, {C, F}};
    auto add = [&](std::vector<float> v) {
      store.push_back(std::move(v));
      return FloatSpan{store.back().data(), static_cast<int64_t>(store.back().size())};
    };
    store.reserve(16);
    std::vector<float> g1 = testing::Gaussian(C, seed, 0.2f), g2 = testing::Gaussian(C, seed + 1, 0.2f);
    for (float& v : g1) v += 1.0f;
    for (float& v : g2) v += 1.0f;
    weights.ln_1_weight = add(g1);
    weights.ln_1_bias = add(testing::Gaussian(C, seed + 2, 0.1f));
    weights.ln_2_weight = add(g2);
    weights.ln_2_bias = add(testing::Gaussian(C, seed + 3, 0.1f));
    for (int k = 0; k < kBlockLinears; ++k) {
      const FloatSpan w = add(testing::Gaussian(sizes[k][0] * sizes[k][1], seed + 10 + k, 0.2f));
      BlockLinearMatrix(weights, static_cast<BlockLinear>(k)) =
          std::make_shared<Fp32Matrix>(w.data, sizes[k][0], sizes[k][1], Fp32Layout::kOutIn);
      BlockLinearBias(weights, static_cast<BlockLinear>(k)) = add(testing::Gaussian(sizes[k][0], seed + 20 + k, 0.1f));
      tensors.w[k] = w.data;
      tensors.bias[k] = BlockLinearBias(weights, static_cast<BlockLinear>(k)).data;
    }
    tensors.ln_1_weight = weights.ln_1_weight.data;
    tensors.ln_1_bias = weights.ln_1_bias.data;
    tensors.ln_2_weight = weights.ln_2_weight.data;
    tensors.ln_2_bias = weights.ln_2_bias.data;
  }
};

testing::BlockD ToDouble(const GPT2Config& c, const BlockTensors& t) {
  testing::BlockD d;
  d.C = c.n_embd;
  d.F = c.n_inner;
  d.H = c.n_head;
  d.eps = c.layer_norm_epsilon;
  auto copy = [](const float* p, int64_t n) { return Doubles(p, p + n); };
  d.ln1_w = copy(t.ln_1_weight, c.n_embd);
  d.ln1_b = copy(t.ln_1_bias, c.n_embd);
  d.ln2_w = copy(t.ln_2_weight, c.n_embd);
  d.ln2_b = copy(t.ln_2_bias, c.n_embd);
  const int64_t C = c.n_embd, F = c.n_inner;
  const int64_t sizes[4][2] = {{3 * C, C}, {C, C}, {F, C}, {C, F}};
  for (int k = 0; k < 4; ++k) {
    d.w[k] = copy(t.w[k], sizes[k][0] * sizes[k][1]);
    d.bias[k] = copy(t.bias[k], sizes[k][0]);
  }
  return d;
}

class BlockTrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { UseSingleThreadedBlas(); }
};

TEST_F(BlockTrainerTest, ForwardEqualsTheModelsBlock) {
  ThreadPool pool(2);
  const GPT2Config c = SmallConfig();
  const RandomBlock block(c, 3);
  const BlockTensors& t = block.tensors;
  const int64_t B = 3, T = 11, N = B * T;
  const auto x = testing::Gaussian(N * c.n_embd, 4);
  BlockActivations acts;
  BlockForwardTrain(c, t, x.data(), B, T, acts, pool);

  std::vector<float> expected = x;
  KVCache cache(c, B, T);
  BlockScratch scratch;
  scratch.Reserve(c, N);
  RunBlock(c, block.weights, expected.data(), B, T, cache, 0, scratch, nullptr, pool);
  for (int64_t i = 0; i < N * c.n_embd; ++i) {
    EXPECT_NEAR(acts.out()[i], expected[i], 1e-5 * (1 + std::fabs(expected[i]))) << i;
  }
}

TEST_F(BlockTrainerTest, BackwardMatchesFiniteDifferencesOfTheBlock) {
  ThreadPool pool(2);
  const GPT2Config c = SmallConfig();
  const RandomBlock block(c, 7);
  const BlockTensors& t = block.tensors;
  const int64_t B = 2, T = 5, N = B * T, C = c.n_embd;
  const auto x = testing::Gaussian(N * C, 8);
  const auto r = testing::Gaussian(N * C, 9);  // dL/d(out) for L = Σ r·out
  std::vector<int64_t> sizes;
  for (int k = 0; k < kBlockLinears; ++k) {
    const WeightMatrix& m = *BlockLinearMatrix(block.weights, static_cast<BlockLinear>(k));
    sizes.push_back(m.rows() * m.cols());
  }
  BlockActivations acts;
  BlockForwardTrain(c, t, x.data(), B, T, acts, pool);
  std::array<std::vector<float>, kBlockLinears> dw;
  std::array<float*, kBlockLinears> dw_ptr{};
  for (int k = 0; k < kBlockLinears; ++k) {
    dw[k].resize(sizes[k]);
    dw_ptr[k] = dw[k].data();
  }
  std::vector<float> dx(N * C);
  BlockBackward(c, t, acts, r.data(), dw_ptr, dx.data(), pool);

  testing::BlockD d = ToDouble(c, t);
  Doubles xd = testing::ToDoubles(x), rd = testing::ToDoubles(r);
  auto loss = [&] { return testing::Dot(rd, testing::BlockForwardD(d, xd, B, T)); };
  EXPECT_LT(testing::RelativeError(dx, testing::NumericGradient(xd, loss)), 1e-3) << "input";
  for (int k = 0; k < kBlockLinears; ++k) {
    EXPECT_LT(testing::RelativeError(dw[k], testing::NumericGradient(d.w[k], loss)), 1e-3)
        << BlockLinearName(static_cast<BlockLinear>(k));
  }

  // The same bits on another thread count; a null dw[k] skips that gradient only.
  ThreadPool three(3);
  BlockActivations acts3;
  BlockForwardTrain(c, t, x.data(), B, T, acts3, three);
  EXPECT_EQ(std::memcmp(acts.out(), acts3.out(), N * C * sizeof(float)), 0);
  std::array<std::vector<float>, kBlockLinears> dw3;
  std::array<float*, kBlockLinears> dw3_ptr{};
  for (int k = 0; k < kBlockLinears; ++k) {
    dw3[k].assign(sizes[k], -1.0f);
    if (k != 1) dw3_ptr[k] = dw3[k].data();
  }
  std::vector<float> dx3(N * C);
  BlockBackward(c, t, acts3, r.data(), dw3_ptr, dx3.data(), three);
  EXPECT_EQ(dx, dx3);
  for (int k = 0; k < kBlockLinears; ++k) {
    if (k == 1) {
      EXPECT_EQ(dw3[k], std::vector<float>(sizes[k], -1.0f));
    } else {
      EXPECT_EQ(dw[k], dw3[k]) << k;
    }
  }
}

// A student of 4-bit int8-group weights (group 8) learning its own fp32 block.
struct Distilled {
  DistillResult result;
  Status status;
};

Distilled Distill(int threads, const DistillOptions& options, std::array<bool, kBlockLinears> train) {
  UseSingleThreadedBlas();
  ThreadPool pool(threads);
  const GPT2Config c = SmallConfig();
  const RandomBlock block(c, 11);
  const int64_t n = 6, L = 12, C = c.n_embd;
  const auto inputs = testing::Gaussian(n * L * C, 12);
  std::vector<float> targets = inputs;
  KVCache cache(c, n, L);
  BlockScratch scratch;
  scratch.Reserve(c, n * L);
  RunBlock(c, block.weights, targets.data(), n, L, cache, 0, scratch, nullptr, pool);
  const FormatTraits* format = FindFormat("int8-group").value();
  const FakeQuantizer quantize = [&](const float* w, int64_t rows, int64_t cols, float* wq) -> Status {
    auto m = format->quantize(w, rows, cols, {{"group", 8}, {"bits", 4}, {"w8a8", 0}}, pool);
    if (!m.ok()) return m.status();
    for (int64_t r = 0; r < rows; ++r) m.value()->DequantizeRow(r, wq + r * cols);
    return OkStatus();
  };
  auto r = DistillBlock(c, block.weights, train, inputs.data(), targets.data(), n, L, options, quantize, pool);
  if (!r.ok()) return {{}, r.status()};
  return {std::move(r).value(), OkStatus()};
}

TEST_F(BlockTrainerTest, DistillationLowersTheLossDeterministically) {
  DistillOptions options;
  options.steps = 40;
  options.batch = 2;
  options.lr = 1e-3;
  const std::array<bool, kBlockLinears> all = {true, true, true, true};
  Distilled a = Distill(2, options, all);
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_GT(a.result.loss_before, 0.0);
  EXPECT_LT(a.result.loss_after, 0.7 * a.result.loss_before);
  ASSERT_EQ(a.result.step_loss.size(), 40u);
  for (int k = 0; k < kBlockLinears; ++k) EXPECT_FALSE(a.result.weights[k].empty());
  Distilled again = Distill(2, options, all);
  Distilled one = Distill(1, options, all);
  EXPECT_EQ(a.result.step_loss, again.result.step_loss);
  EXPECT_EQ(a.result.step_loss, one.result.step_loss);
  for (int k = 0; k < kBlockLinears; ++k) {
    EXPECT_EQ(a.result.weights[k], again.result.weights[k]) << k;
    EXPECT_EQ(a.result.weights[k], one.result.weights[k]) << k;
  }
  // Only the selected linears are trained (and returned).
  Distilled some = Distill(2, options, {true, false, false, true});
  ASSERT_TRUE(some.status.ok());
  EXPECT_TRUE(some.result.weights[1].empty() && some.result.weights[2].empty());
  EXPECT_LT(some.result.loss_after, some.result.loss_before);
}

TEST_F(BlockTrainerTest, BadOptionsAreErrors) {
  const std::array<bool, kBlockLinears> all = {true, true, true, true};
  DistillOptions options;
  options.batch = 7;  // 6 windows
  Distilled r = Distill(1, options, all);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("7 windows"), std::string::npos) << r.status.message();
  options.batch = 2;
  options.lr = 0;
  EXPECT_FALSE(Distill(1, options, all).status.ok());
  options.lr = 1e30;  // diverges: a clear error, not NaN weights
  options.steps = 5;
  r = Distill(1, options, all);
  EXPECT_FALSE(r.status.ok());
  EXPECT_NE(r.status.message().find("loss"), std::string::npos) << r.status.message();
}

}  // namespace
}  // namespace gpt2q
