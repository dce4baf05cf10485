// llm-int8: SCB/CB as bitsandbytes computes them, and the outlier decomposition.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "formats/int8_formats.h"
#include "formats/llm_int8.h"

namespace gpt2q {
namespace {

TEST(LlmInt8, ScbAndCodesByHand) {
  ThreadPool pool(1);
  // Row 0: SCB = 2, CB = round(63.5·W) = 64 (63.5 → even), −127, 32; row 1 all zero.
  std::vector<float> w = {1.0f, -2.0f, 0.5f, 0.0f, 0.0f, 0.0f};
  auto r = kLlmInt8Format.quantize(w.data(), 2, 3, {}, pool);
  ASSERT_TRUE(r.ok()) << r.message();
  auto* m = static_cast<LlmInt8Matrix*>(r.value().get());
  EXPECT_EQ(m->Scale(0, 0), 2.0f);
  EXPECT_EQ(m->Code(0, 0), 64);
  EXPECT_EQ(m->Code(0, 1), -127);
  EXPECT_EQ(m->Code(0, 2), 32);
  EXPECT_EQ(m->Scale(1, 0), 0.0f);
  std::vector<float> row(3);
  m->DequantizeRow(0, row.data());
  EXPECT_EQ(row[0], 64.0f * 2.0f / 127.0f);
  m->DequantizeRow(1, row.data());
  EXPECT_EQ(row[2], 0.0f);
  EXPECT_FLOAT_EQ(m->threshold(), 6.0f);
}

// With one outlier column in X, decomposition keeps the rest of the row's
// precision; without it (threshold 0) the outlier inflates every token's scale.
TEST(LlmInt8, OutlierDecompositionReducesError) {
  ThreadPool pool(2);
  const int64_t rows = 40, cols = 96, n = 6;
  std::mt19937 rng(1);
  std::normal_distribution<float> dist;
  std::vector<float> w(rows * cols), x(n * cols);
  for (float& v : w) v = 0.05f * dist(rng);
  for (float& v : x) v = dist(rng) * 0.5f;
  for (int64_t t = 0; t < n; ++t) x[t * cols + 17] = 60.0f * (t % 2 ? 1.0f : -1.0f);
  auto with = kLlmInt8Format.quantize(w.data(), rows, cols, {{"threshold", 6.0}}, pool);
  auto without = kLlmInt8Format.quantize(w.data(), rows, cols, {{"threshold", 0.0}}, pool);
  ASSERT_TRUE(with.ok() && without.ok());
  std::vector<float> y1(n * rows), y0(n * rows), wd(cols);
  with.value()->Multiply(x.data(), n, y1.data(), pool);
  without.value()->Multiply(x.data(), n, y0.data(), pool);
  double err1 = 0, err0 = 0;
  for (int64_t j = 0; j < rows; ++j) {
    with.value()->DequantizeRow(j, wd.data());
    for (int64_t t = 0; t < n; ++t) {
      double ref = 0, ref_rest = 0;
      for (int64_t k = 0; k < cols; ++k) {
        ref += double(x[t * cols + k]) * wd[k];
        if (k != 17) ref_rest += std::fabs(double(x[t * cols + k]) * wd[k]);
      }
      err1 = std::max(err1, std::fabs(y1[t * rows + j] - ref));
      err0 = std::max(err0, std::fabs(y0[t * rows + j] - ref));
      // The outlier column is exact in fp32; the rest carries int8 activation error.
      EXPECT_NEAR(y1[t * rows + j], ref, 0.02 * ref_rest + 1e-5);
    }
  }
  EXPECT_LT(err1 * 4, err0) << err1 << " vs " << err0;
}

TEST(LlmInt8, ThresholdIsValidated) {
  ThreadPool pool(1);
  std::vector<float> w(8, 1.0f);
  EXPECT_FALSE(kLlmInt8Format.quantize(w.data(), 1, 8, {{"threshold", -1}}, pool).ok());
  EXPECT_FALSE(kLlmInt8Format.quantize(w.data(), 1, 8, {{"w8a8", 1}}, pool).ok());
}

}  // namespace
}  // namespace gpt2q
