// Sampling: greedy, temperature, top-k and top-p on hand-made distributions,
// and the seeded generator's reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "eval/sampling.h"

namespace gpt2q {
namespace {

// Logits whose softmax is `probs`.
std::vector<float> LogitsOf(const std::vector<double>& probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

TEST(SamplingTest, ArgmaxTakesFirstOfTies) {
  const float logits[5] = {0.f, 3.f, 1.f, 3.f, -2.f};
  EXPECT_EQ(Argmax(logits, 5), 1);
}

TEST(SamplingTest, TopPKeepsSmallestSetReachingP) {
  std::vector<float> logits = LogitsOf({0.15, 0.5, 0.05, 0.3});
  SamplingOptions options;
  options.top_p = 0.75;  // 0.5 < 0.75 <= 0.5 + 0.3: tokens 1 and 3
  std::vector<double> probs = FilteredProbabilities(logits.data(), 4, options);
  EXPECT_NEAR(probs[1], 0.5 / 0.8, 1e-6);
  EXPECT_NEAR(probs[3], 0.3 / 0.8, 1e-6);
  EXPECT_EQ(probs[0], 0.0);
  EXPECT_EQ(probs[2], 0.0);

  options.top_p = 0.45;  // the most likely token alone reaches it
  probs = FilteredProbabilities(logits.data(), 4, options);
  EXPECT_NEAR(probs[1], 1.0, 1e-12);
  EXPECT_EQ(probs[3], 0.0);

  options.top_p = 0.9;  // 0.5 + 0.3 + 0.15
  probs = FilteredProbabilities(logits.data(), 4, options);
  EXPECT_NEAR(probs[0], 0.15 / 0.95, 1e-6);
  EXPECT_EQ(probs[2], 0.0);

  options.top_p = 1.0;
  probs = FilteredProbabilities(logits.data(), 4, options);
  EXPECT_NEAR(probs[2], 0.05, 1e-6);
}

TEST(SamplingTest, TopKKeepsKMostLikely) {
  std::vector<float> logits = {3.f, 1.f, 2.f, 0.f};
  SamplingOptions options;
  options.top_k = 2;
  std::vector<double> probs = FilteredProbabilities(logits.data(), 4, options);
  const double e = std::exp(-1.0);
  EXPECT_NEAR(probs[0], 1 / (1 + e), 1e-9);
  EXPECT_NEAR(probs[2], e / (1 + e), 1e-9);
  EXPECT_EQ(probs[1], 0.0);
  EXPECT_EQ(probs[3], 0.0);
}

TEST(SamplingTest, TemperatureScalesLogits) {
  std::vector<float> logits = {1.f, 0.f};
  SamplingOptions options;
  options.temperature = 0.5;  // softmax([2, 0])
  std::vector<double> probs = FilteredProbabilities(logits.data(), 2, options);
  EXPECT_NEAR(probs[0], 1 / (1 + std::exp(-2.0)), 1e-9);
  options.temperature = 2.0;  // softmax([0.5, 0])
  probs = FilteredProbabilities(logits.data(), 2, options);
  EXPECT_NEAR(probs[0], 1 / (1 + std::exp(-0.5)), 1e-9);
}

TEST(SamplingTest, SameSeedSameTokensAndTopK1IsGreedy) {
  std::mt19937 gen(3);
  std::normal_distribution<float> normal(0.f, 2.f);
  std::vector<std::vector<float>> rows(200, std::vector<float>(1000));
  for (auto& row : rows) for (float& x : row) x = normal(gen);

  SamplingOptions options;
  options.top_k = 40;
  options.top_p = 0.9;
  options.temperature = 0.8;
  Sampler a(options, 17), b(options, 17), c(options, 18);
  int differences = 0;
  for (const auto& row : rows) {
    int32_t ta = a.Sample(row.data(), 1000);
    EXPECT_EQ(ta, b.Sample(row.data(), 1000));
    differences += ta != c.Sample(row.data(), 1000);
  }
  EXPECT_GT(differences, 0);  // another seed draws other tokens

  SamplingOptions top1;
  top1.top_k = 1;
  SamplingOptions greedy;
  greedy.greedy = true;
  Sampler s1(top1, 5), s2(greedy, 6);
  for (const auto& row : rows) {
    const int32_t want = Argmax(row.data(), 1000);
    EXPECT_EQ(s1.Sample(row.data(), 1000), want);
    EXPECT_EQ(s2.Sample(row.data(), 1000), want);
  }
}

TEST(SamplingTest, DrawsFollowTheDistribution) {
  std::vector<float> logits = LogitsOf({0.7, 0.2, 0.1});
  Sampler sampler(SamplingOptions{}, 99);
  std::vector<int> counts(3, 0);
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sampler.Sample(logits.data(), 3)];
  EXPECT_NEAR(counts[0] / double(n), 0.7, 0.015);
  EXPECT_NEAR(counts[1] / double(n), 0.2, 0.015);
  EXPECT_NEAR(counts[2] / double(n), 0.1, 0.015);
}

TEST(SamplingTest, RejectsBadOptions) {
  SamplingOptions options;
  EXPECT_TRUE(ValidateSamplingOptions(options).ok());
  options.temperature = 0;
  EXPECT_FALSE(ValidateSamplingOptions(options).ok());
  options = {};
  options.top_p = 0;
  EXPECT_FALSE(ValidateSamplingOptions(options).ok());
  options.top_p = 1.5;
  EXPECT_FALSE(ValidateSamplingOptions(options).ok());
  options = {};
  options.top_k = -1;
  EXPECT_FALSE(ValidateSamplingOptions(options).ok());
}

}  // namespace
}  // namespace gpt2q
