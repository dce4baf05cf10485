// AWQ's pieces on synthetic data: the ratio grid of the scale search (its
// winner, ties and margin) and the clipping search (it helps where an outlier
// makes the grid coarse, it finds the minimum of its own error, threads) and
// the Gram-matrix form of a linear's output error.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "formats/minmax_quantizer.h"
#include "kernels/blas.h"
#include "quant/awq_clip.h"
#include "quant/awq_scale_search.h"
#include "quant/gram_loss.h"
#include "quant/hessian.h"
#include "../random_values.h"

namespace gpt2q {
namespace {

using testing::Gaussian;

TEST(AwqScaleSearchTest, ScalesAreNormalisedPowers) {
  const std::vector<float> x_mean = {0.0f, 0.5f, 2.0f, 8.0f};
  for (float r : {0.0f, 0.25f, 0.5f, 0.95f}) {
    std::vector<float> s = AwqScalesForRatio(x_mean, r);
    std::vector<float> raw(4);
    for (int j = 0; j < 4; ++j) raw[j] = std::max(std::pow(x_mean[j], r), 1e-4f);
    const float norm = std::sqrt(*std::max_element(raw.begin(), raw.end()) * *std::min_element(raw.begin(), raw.end()));
    for (int j = 0; j < 4; ++j) EXPECT_EQ(s[j], raw[j] / norm) << "r " << r << " j " << j;
  }
  for (float v : AwqScalesForRatio(x_mean, 0.0f)) EXPECT_EQ(v, 1.0f);  // x̄⁰ = 1, even for x̄ = 0
}

// With x̄ = {e, 1}, s₀ = e^(r/2) after normalisation: the loss can read r back.
double RatioOf(std::span<const float> s) { return 2.0 * std::log(double(s[0])); }

TEST(AwqScaleSearchTest, FlatLossKeepsRatioZero) {
  const std::vector<float> x_mean = {3.0f, 0.1f, 1.0f};
  int calls = 0;
  auto choice = AwqSearchScales(x_mean, 20, [&](std::span<const float>) { ++calls; return 0.25; });
  ASSERT_TRUE(choice.ok()) << choice.message();
  EXPECT_EQ(calls, 20);
  EXPECT_EQ(choice->ratio_index, 0);
  EXPECT_EQ(choice->ratio, 0.0);
  EXPECT_EQ(choice->margin, 0.0);
  for (float v : choice->scales) EXPECT_EQ(v, 1.0f);
}

TEST(AwqScaleSearchTest, LowestLossWinsAndMarginIsRelativeGapToRunnerUp) {
  const std::vector<float> x_mean = {float(std::exp(1.0)), 1.0f};
  const std::vector<double> table = {5.0, 3.0, 2.0, 2.5, 4.0};
  auto loss = [&](std::span<const float> s) { return table[std::lround(RatioOf(s) * 5)]; };
  auto choice = AwqSearchScales(x_mean, 5, loss);
  ASSERT_TRUE(choice.ok()) << choice.message();
  EXPECT_EQ(choice->ratio_index, 2);
  EXPECT_DOUBLE_EQ(choice->ratio, 0.4);
  EXPECT_DOUBLE_EQ(choice->margin, (2.5 - 2.0) / 2.0);
  EXPECT_EQ(choice->losses, table);
  EXPECT_EQ(choice->scales, AwqScalesForRatio(x_mean, 0.4f));
}

TEST(AwqScaleSearchTest, TiesKeepTheSmallerRatioWithZeroMargin) {
  const std::vector<float> x_mean = {float(std::exp(1.0)), 1.0f};
  const std::vector<double> table = {3.0, 1.0, 1.0, 2.0};
  auto choice = AwqSearchScales(x_mean, 4, [&](std::span<const float> s) { return table[std::lround(RatioOf(s) * 4)]; });
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->ratio_index, 1);
  EXPECT_EQ(choice->margin, 0.0);
}

TEST(AwqScaleSearchTest, NanNeverWinsAndBadInputIsAnError) {
  const std::vector<float> x_mean = {float(std::exp(1.0)), 1.0f};
  const std::vector<double> table = {NAN, 2.0, 1.5};
  auto choice = AwqSearchScales(x_mean, 3, [&](std::span<const float> s) { return table[std::lround(RatioOf(s) * 3)]; });
  ASSERT_TRUE(choice.ok());
  EXPECT_EQ(choice->ratio_index, 2);
  EXPECT_DOUBLE_EQ(choice->margin, (2.0 - 1.5) / 1.5);
  auto one = AwqSearchScales(x_mean, 1, [](std::span<const float>) { return 1.0; });
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(std::isinf(one->margin));  // no runner-up

  auto flat = [](std::span<const float>) { return 1.0; };
  EXPECT_FALSE(AwqSearchScales(x_mean, 0, flat).ok());
  EXPECT_FALSE(AwqSearchScales({}, 20, flat).ok());
  const std::vector<float> negative = {1.0f, -0.5f};
  auto neg = AwqSearchScales(negative, 20, flat);
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.message().find("input channel 1"), std::string::npos) << neg.message();
  EXPECT_FALSE(AwqSearchScales(x_mean, 20, [](std::span<const float>) { return double(NAN); }).ok());
}

TEST(AwqClipTest, TokensAreTakenWithAFloorStride) {
  const int64_t n_in = 3;
  auto rows_of = [&](int64_t n_rows, int64_t n_sample) {
    std::vector<float> x(n_rows * n_in);
    for (int64_t i = 0; i < n_rows * n_in; ++i) x[i] = float(i / n_in);  // value = row index
    std::vector<float> out = AwqClipTokens(x.data(), n_rows, n_in, n_sample);
    std::vector<int64_t> idx;
    for (size_t i = 0; i < out.size(); i += n_in) idx.push_back(int64_t(out[i]));
    return idx;
  };
  EXPECT_EQ(rows_of(10, 4), (std::vector<int64_t>{0, 2, 4, 6, 8}));     // stride 10/4 = 2
  EXPECT_EQ(rows_of(12, 4), (std::vector<int64_t>{0, 3, 6, 9}));        // stride 3
  EXPECT_EQ(rows_of(3, 4), (std::vector<int64_t>{0, 1, 2}));            // fewer rows than asked: all
  EXPECT_EQ(rows_of(32768, 512).size(), 512u);                          // the fixture's 128 × 256
  EXPECT_EQ(rows_of(1030, 512).size(), 515u);                           // stride 2
  EXPECT_EQ(AwqClipStride(1030, 512), 2);
  EXPECT_EQ(AwqClipStride(65536), 128);
  EXPECT_EQ(AwqClipStride(100), 1);
}

// err of one (row, group) for bound `hi`, in double: the search's objective.
double ClipError(const std::vector<float>& w, const std::vector<float>& x, int64_t cols, int64_t n_tokens, int64_t r,
                 int64_t c0, int64_t len, float hi, int bits) {
  std::vector<float> q(len);
  for (int64_t c = 0; c < len; ++c) q[c] = std::clamp(w[r * cols + c0 + c], -hi, hi);
  const GroupQuant g = AwqGroupQuant(q.data(), len, bits);
  for (float& v : q) v = DequantizeCode(QuantizeToCode(v, g, MaxCode(bits)), g);
  double total = 0;
  for (int64_t t = 0; t < n_tokens; ++t) {
    double d = 0;
    for (int64_t c = 0; c < len; ++c) d += double(x[t * cols + c0 + c]) * (double(q[c]) - w[r * cols + c0 + c]);
    total += d * d;
  }
  return total / double(n_tokens);
}

TEST(AwqClipTest, ShrinkHelpsWhenAnOutlierMeetsQuietInputs) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  const int64_t rows = 8, cols = 64, n_tokens = 256;
  std::vector<float> w = Gaussian(rows * cols, 1, 0.05f);
  std::vector<float> x = Gaussian(n_tokens * cols, 2);
  for (int64_t r = 0; r < rows; ++r) w[r * cols + 3] = 1.0f;          // a huge weight …
  for (int64_t t = 0; t < n_tokens; ++t) x[t * cols + 3] *= 1e-3f;    // … on an almost silent channel
  const std::vector<float> original = w;
  auto res = AwqClipSearch("test", w.data(), rows, cols, x.data(), n_tokens, 4, -1, pool);
  ASSERT_TRUE(res.ok()) << res.message();
  for (int64_t r = 0; r < rows; ++r) {
    EXPECT_GE(res->step[r], 5) << "row " << r;  // a strong shrink
    EXPECT_EQ(res->max_val[r], 1.0f * float(1.0 - res->step[r] / 20.0));
    float m = 0;
    for (int64_t c = 0; c < cols; ++c) m = std::max(m, std::fabs(w[r * cols + c]));
    EXPECT_EQ(m, res->max_val[r]);
    EXPECT_LT(ClipError(original, x, cols, n_tokens, r, 0, cols, res->max_val[r], 4),
              0.5 * ClipError(original, x, cols, n_tokens, r, 0, cols, 1.0f, 4));
  }
}

TEST(AwqClipTest, ChoosesTheLowestErrorStepPerGroupWithAShortLastGroup) {
  UseSingleThreadedBlas();
  ThreadPool pool(2);
  const int64_t rows = 70, cols = 200, group = 64, n_tokens = 100;  // groups 64, 64, 64, 8
  std::vector<float> w = Gaussian(rows * cols, 3, 0.05f);
  std::vector<float> x = Gaussian(n_tokens * cols, 4);
  for (int64_t i = 0; i < rows * cols; i += 37) w[i] *= 6.0f;  // scattered outliers
  const std::vector<float> original = w;
  auto res = AwqClipSearch("test", w.data(), rows, cols, x.data(), n_tokens, 3, group, pool);
  ASSERT_TRUE(res.ok()) << res.message();
  ASSERT_EQ(res->n_groups, 4);
  int64_t shrunk = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < 4; ++g) {
      const int64_t c0 = g * group, len = std::min(group, cols - c0);
      float org_max = 0;
      for (int64_t c = c0; c < c0 + len; ++c) org_max = std::max(org_max, std::fabs(original[r * cols + c]));
      double best = 1e300;
      for (int s = 0; s < kAwqClipSteps; ++s) {
        best = std::min(best, ClipError(original, x, cols, n_tokens, r, c0, len,
                                        org_max * float(1.0 - s / 20.0), 3));
      }
      const int step = res->step[r * 4 + g];
      EXPECT_EQ(res->max_val[r * 4 + g], org_max * float(1.0 - step / 20.0));
      // fp32 sums in the search vs double here: near-ties may go either way.
      EXPECT_LE(ClipError(original, x, cols, n_tokens, r, c0, len, res->max_val[r * 4 + g], 3), best * (1 + 1e-4) + 1e-12);
      shrunk += step > 0;
      for (int64_t c = c0; c < c0 + len; ++c) {
        EXPECT_EQ(w[r * cols + c], std::clamp(original[r * cols + c], -res->max_val[r * 4 + g], res->max_val[r * 4 + g]));
      }
    }
  }
  EXPECT_GT(shrunk, 0);
}

TEST(AwqClipTest, ThreadCountDoesNotChangeTheResult) {
  UseSingleThreadedBlas();
  const int64_t rows = 150, cols = 96, n_tokens = 64;
  const std::vector<float> w = Gaussian(rows * cols, 5, 0.05f), x = Gaussian(n_tokens * cols, 6);
  std::vector<float> a = w, b = w;
  ThreadPool pool1(1), pool2(2);
  auto ra = AwqClipSearch("test", a.data(), rows, cols, x.data(), n_tokens, 4, 32, pool1);
  auto rb = AwqClipSearch("test", b.data(), rows, cols, x.data(), n_tokens, 4, 32, pool2);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(a, b);
  EXPECT_EQ(ra->max_val, rb->max_val);
  EXPECT_EQ(ra->step, rb->step);
}

TEST(AwqClipTest, BadInputIsAnError) {
  ThreadPool pool(1);
  std::vector<float> w = Gaussian(4 * 8, 7), x = Gaussian(5 * 8, 8);
  EXPECT_FALSE(AwqClipSearch("t", w.data(), 4, 8, x.data(), 5, 0, 8, pool).ok());
  EXPECT_FALSE(AwqClipSearch("t", w.data(), 4, 8, x.data(), 5, 4, 0, pool).ok());
  EXPECT_FALSE(AwqClipSearch("t", w.data(), 4, 8, x.data(), 0, 4, 8, pool).ok());
  x[13] = INFINITY;
  auto r = AwqClipSearch("h.1.mlp.c_fc", w.data(), 4, 8, x.data(), 5, 4, 8, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("h.1.mlp.c_fc"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("[1, 5]"), std::string::npos) << r.message();
}

}  // namespace
}  // namespace gpt2q

namespace gpt2q {
namespace {

TEST(GramLossTest, EqualsTheDirectOutputErrorForAnyThreadCount) {
  UseSingleThreadedBlas();
  const int64_t rows = 100, cols = 40, n_rows = 300;  // rows: not a multiple of the chunk
  const std::vector<float> x = Gaussian(n_rows * cols, 9), w = Gaussian(rows * cols, 10, 0.1f);
  std::vector<float> w_new = w;
  for (size_t i = 0; i < w_new.size(); i += 3) w_new[i] += 0.01f * float(i % 7) - 0.03f;
  ThreadPool pool1(1), pool2(2);
  HessianAccumulator acc(cols);
  acc.Add(x.data(), n_rows, 6, pool1);  // H = (2/6)·XᵀX
  const std::vector<float> h = acc.Symmetric();
  const double a = GramOutputLoss(w.data(), w_new.data(), rows, cols, h, 6.0 / 2.0, n_rows, pool1);
  const double b = GramOutputLoss(w.data(), w_new.data(), rows, cols, h, 6.0 / 2.0, n_rows, pool2);
  EXPECT_EQ(a, b);
  double direct = 0;
  for (int64_t t = 0; t < n_rows; ++t) {
    for (int64_t o = 0; o < rows; ++o) {
      double y = 0;
      for (int64_t c = 0; c < cols; ++c) y += double(x[t * cols + c]) * (double(w_new[o * cols + c]) - w[o * cols + c]);
      direct += y * y;
    }
  }
  direct /= double(n_rows * rows);
  EXPECT_NEAR(a, direct, 1e-4 * direct);
}

}  // namespace
}  // namespace gpt2q
