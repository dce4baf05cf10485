// fp16: conversion agrees with core/half.h, range errors, GEMV and tiled paths.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/half.h"
#include "formats/fp16_matrix.h"

namespace gpt2q {
namespace {

TEST(Fp16, StoresRoundToNearestEvenHalves) {
  ThreadPool pool(2);
  std::vector<float> w = {1.0f, -2.5f, 65504.0f, 6.0e-8f, 1.0f + 1.0f / 2048, 1e-3f, 0.0f, -0.0f, 3.14159f};
  auto r = kFp16Format.quantize(w.data(), 1, static_cast<int64_t>(w.size()), {}, pool);
  ASSERT_TRUE(r.ok()) << r.message();
  auto* m = static_cast<Fp16Matrix*>(r.value().get());
  std::vector<float> row(w.size());
  m->DequantizeRow(0, row.data());
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(m->data()[i], FloatToFp16(w[i])) << i;
    EXPECT_EQ(row[i], Fp16ToFloat(FloatToFp16(w[i]))) << i;
  }
  EXPECT_EQ(row[4], 1.0f);  // a tie rounds to the even mantissa
  EXPECT_EQ(m->StoredBytes(), static_cast<int64_t>(w.size()) * 2);
}

TEST(Fp16, OutOfRangeValuesAreRejected) {
  ThreadPool pool(1);
  std::vector<float> w(16, 1.0f);
  w[9] = 70000.0f;
  auto r = kFp16Format.quantize(w.data(), 2, 8, {}, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("(1, 1)"), std::string::npos) << r.message();
  w[9] = 65519.0f;  // rounds to 65504, in range
  EXPECT_TRUE(kFp16Format.quantize(w.data(), 2, 8, {}, pool).ok());
}

TEST(Fp16, GemvAndTiledPathsMatchDoubleReference) {
  ThreadPool pool(2);
  std::mt19937 rng(5);
  std::normal_distribution<float> dist;
  const int64_t rows = 45, cols = 203;
  std::vector<float> w(rows * cols);
  for (float& v : w) v = dist(rng);
  auto r = kFp16Format.quantize(w.data(), rows, cols, {}, pool);
  ASSERT_TRUE(r.ok());
  const WeightMatrix& m = *r.value();
  for (int64_t n : {1, 2, 3, 4, 5, 9}) {
    std::vector<float> x(n * cols), y(n * rows);
    for (float& v : x) v = dist(rng);
    m.Multiply(x.data(), n, y.data(), pool);
    std::vector<float> row(cols);
    for (int64_t j = 0; j < rows; ++j) {
      m.DequantizeRow(j, row.data());
      for (int64_t t = 0; t < n; ++t) {
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < cols; ++k) {
          ref += double(x[t * cols + k]) * row[k];
          mag += std::fabs(double(x[t * cols + k]) * row[k]);
        }
        EXPECT_NEAR(y[t * rows + j], ref, 1e-6 * mag + 1e-6) << n << " " << t << " " << j;
      }
    }
  }
}

}  // namespace
}  // namespace gpt2q
