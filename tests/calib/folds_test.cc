// Folds: each pair of scalings keeps the model's function; the GELU scale is
// applied by the forward pass, saved in a quantized checkpoint and loaded back,
// and folded away into mlp.c_proj.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <vector>

#include "calib/folds.h"
#include "model/checkpoint.h"
#include "model/gpt2.h"
#include "model/quantized_checkpoint.h"
#include "model/synthetic.h"
#include "quant/quantize_model.h"

namespace gpt2q {
namespace {

GPT2Config SmallConfig() {
  GPT2Config c;
  c.n_vocab = 50257;  // GPT-2's: config.json's eos_token_id 50256 must be a token
  c.n_ctx = 32;
  c.n_embd = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_inner = 128;
  return c;
}

std::vector<float> Logits(const ModelWeights& weights, ThreadPool& pool) {
  GPT2 model(weights);
  std::vector<int32_t> tokens(20);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 37 + 5) % 300);
  KVCache cache(weights.config, 1, 20);
  std::vector<float> logits(20 * 50257);
  model.Forward(tokens.data(), 1, 20, cache, LogitsMode::kAll, logits.data(), pool);
  return logits;
}

double MaxDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - b[i]));
  return d;
}

// Scales in [0.25, 4), deterministic.
std::vector<float> Scales(int64_t n, int seed) {
  std::vector<float> s(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) s[j] = std::exp2(static_cast<float>((j * 7 + seed) % 16) / 4.0f - 2.0f);
  return s;
}

class FoldsTest : public ::testing::Test {
 protected:
  FoldsTest() : pool_(2), weights_(MakeSyntheticModel(SmallConfig(), 3, pool_)) {
    // Synthetic LayerNorms are plain (gain 1, bias 0); give them some shape.
    for (auto& b : weights_.blocks) {
      const std::vector<float> g = Scales(32, 1), beta = Scales(32, 5);
      DivideLayerNorm(weights_, b.ln_1_weight, b.ln_1_bias, g.data());
      for (int64_t j = 0; j < 32; ++j) const_cast<float*>(b.ln_1_bias.data)[j] = 0.01f * (j % 5);
      DivideLayerNorm(weights_, b.ln_2_weight, b.ln_2_bias, beta.data());
    }
    reference_ = Logits(weights_, pool_);
  }
  ThreadPool pool_;
  ModelWeights weights_;
  std::vector<float> reference_;
};

TEST_F(FoldsTest, LayerNormIntoLinearInputsKeepsTheFunction) {
  BlockWeights& b = weights_.blocks[0];
  const std::vector<float> s = Scales(32, 3);
  DivideLayerNorm(weights_, b.ln_1_weight, b.ln_1_bias, s.data());
  MultiplyInputs(b.attn_c_attn, s.data(), pool_);
  DivideLayerNorm(weights_, weights_.blocks[1].ln_2_weight, weights_.blocks[1].ln_2_bias, s.data());
  MultiplyInputs(weights_.blocks[1].mlp_c_fc, s.data(), pool_);
  EXPECT_EQ(b.attn_c_attn->format(), "fp32");
  EXPECT_LT(MaxDiff(Logits(weights_, pool_), reference_), 1e-5);
  // Without the counterpart the function changes: the test can fail.
  DivideLayerNorm(weights_, b.ln_2_weight, b.ln_2_bias, s.data());
  EXPECT_GT(MaxDiff(Logits(weights_, pool_), reference_), 1e-4);
}

TEST_F(FoldsTest, ValueColumnsIntoProjectionKeepTheFunction) {
  BlockWeights& b = weights_.blocks[1];
  const std::vector<float> s = Scales(32, 2);
  DivideOutputs(weights_, b.attn_c_attn, b.attn_c_attn_bias, 64, 32, s.data(), pool_);  // V = columns 2C..3C
  MultiplyInputs(b.attn_c_proj, s.data(), pool_);
  EXPECT_LT(MaxDiff(Logits(weights_, pool_), reference_), 1e-5);
}

TEST_F(FoldsTest, GeluScaleIsAppliedSavedLoadedAndFolded) {
  BlockWeights& b = weights_.blocks[0];
  const std::vector<float> s = Scales(128, 4);
  DivideGeluOutput(weights_, b, s.data());
  ASSERT_NE(b.mlp_act_scale.data, nullptr);
  const std::vector<float> divided = Logits(weights_, pool_);
  EXPECT_GT(MaxDiff(divided, reference_), 1e-4);  // the forward pass applies it
  MultiplyInputs(b.mlp_c_proj, s.data(), pool_);
  const std::vector<float> scaled = Logits(weights_, pool_);
  EXPECT_LT(MaxDiff(scaled, reference_), 1e-5);

  // Saved as h.0.mlp.act_scale in a quantized checkpoint, loaded back bit-identically.
  const std::string dir = ::testing::TempDir() + "/gpt2q_act_scale";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(SaveQuantizedCheckpoint(weights_, dir, {"test", "none", "packed"}).ok());
  auto loaded = LoadCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.message();
  ASSERT_NE(loaded->blocks[0].mlp_act_scale.data, nullptr);
  EXPECT_EQ(loaded->blocks[1].mlp_act_scale.data, nullptr);
  EXPECT_EQ(loaded->blocks[0].mlp_act_scale.size, 128);
  EXPECT_EQ(Logits(*loaded, pool_), scaled);
  // A plain Hugging Face checkpoint has no place for it.
  const Status plain = SaveCheckpoint(weights_, dir + "-hf", Dtype::kF32, false);
  EXPECT_FALSE(plain.ok());
  EXPECT_NE(plain.message().find("h.0.mlp.act_scale"), std::string::npos) << plain.message();

  // Folding it into c_proj removes the vector and keeps the function.
  FoldGeluScale(b, pool_);
  EXPECT_EQ(b.mlp_act_scale.data, nullptr);
  EXPECT_LT(MaxDiff(Logits(weights_, pool_), scaled), 1e-5);
  std::filesystem::remove_all(dir);
}

TEST_F(FoldsTest, FoldsDequantizeQuantizedMatrices) {
  BlockWeights& b = weights_.blocks[0];
  auto spec = ParseQuantSpec("absmax-row");
  ASSERT_TRUE(spec.ok());
  Scope scope = MakeScope("no-lm-head", {}, {}, 2).value();
  ASSERT_TRUE(QuantizeModel(weights_, *spec, scope, QuantMode::kPacked, pool_).ok());
  ASSERT_EQ(b.mlp_c_proj->format(), "int8-row");
  const std::vector<float> before = DequantizeAll(*b.mlp_c_proj, pool_);
  const std::vector<float> s = Scales(128, 6);
  DivideInputs(b.mlp_c_proj, s.data(), pool_);
  EXPECT_EQ(b.mlp_c_proj->format(), "fp32");
  const std::vector<float> after = DequantizeAll(*b.mlp_c_proj, pool_);
  for (int64_t o = 0; o < 32; ++o) {
    for (int64_t j = 0; j < 128; ++j) ASSERT_EQ(after[o * 128 + j], before[o * 128 + j] / s[j]);
  }
}

}  // namespace
}  // namespace gpt2q
