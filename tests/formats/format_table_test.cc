// Every row of the format table: fast vs reference quantization, round-trip
// error, Multiply vs a double-precision product, threads 1 vs 2, edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "formats/format.h"

namespace gpt2q {
namespace {

std::vector<float> RandomMatrix(int64_t rows, int64_t cols, uint32_t seed, float scale = 0.1f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (float& v : w) v = dist(rng);
  return w;
}

// Largest |W − W'| allowed, as a fraction of the row's max|W|, per format.
// Formats of other files default to a 4-bit bound.
double RoundTripBound(std::string_view name) {
  static const std::map<std::string_view, double> kBounds = {
      {"fp32", 0.0},           {"fp16", 1.0 / 1024},   {"int8-tensor", 0.5 / 127 + 1e-6},
      {"int8-row", 0.5 / 127 + 1e-6}, {"llm-int8", 0.5 / 127 + 1e-6},
      // The rounded zero-point can push max a full step past 127 (then clipped).
      {"int8-tensor-asym", 1.0 / 127.5 + 1e-6}, {"int8-row-asym", 1.0 / 127.5 + 1e-6},
      // scale = max/128: +max maps to 128 and is clamped to 127, one full step.
      {"int8-group", 1.0 / 128 + 1e-6},
  };
  auto it = kBounds.find(name);
  return it == kBounds.end() ? 0.2 : it->second;
}

// |y − y_ref| ≤ tol · ‖x_t‖ · ‖w_j‖ with y_ref from the dequantized weights.
// Weight-only formats: fp32 rounding only; formats that quantize activations
// (W8A8, ggml's q8 activations): about one activation step.
double MultiplyTolerance(std::string_view name) {
  static const std::map<std::string_view, double> kTol = {
      {"fp32", 1e-5}, {"fp16", 1e-5}, {"int8-tensor", 1e-5}, {"int8-tensor-asym", 1e-5},
      {"int8-row", 1e-5}, {"int8-row-asym", 1e-5},
  };
  auto it = kTol.find(name);
  return it == kTol.end() ? 0.03 : it->second;
}

std::vector<float> Dequantize(const WeightMatrix& m) {
  std::vector<float> out(static_cast<size_t>(m.rows() * m.cols()));
  for (int64_t j = 0; j < m.rows(); ++j) m.DequantizeRow(j, out.data() + j * m.cols());
  return out;
}

bool BitwiseEqual(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

class FormatTableTest : public ::testing::TestWithParam<std::string> {
 protected:
  const FormatTraits& format() const { return *FindFormat(GetParam()).value(); }

  // Quantizes with the fast path; returns null (and records why) if the format
  // rejects this shape, e.g. a block format whose block does not divide cols.
  std::unique_ptr<WeightMatrix> Quantize(const std::vector<float>& w, int64_t rows, int64_t cols,
                                         ThreadPool& pool) const {
    auto r = format().quantize(w.data(), rows, cols, {}, pool);
    if (!r.ok()) return nullptr;
    return std::move(r).value();
  }

  // Shapes to try: odd ones first, then block-friendly ones.
  static std::vector<std::pair<int64_t, int64_t>> Shapes() {
    return {{37, 100}, {37, 129}, {37, 256}, {20, 512}};
  }
};

TEST_P(FormatTableTest, FastAndReferenceGiveIdenticalCodes) {
  ThreadPool pool(2);
  int tested = 0;
  for (auto [rows, cols] : Shapes()) {
    auto w = RandomMatrix(rows, cols, 7 + static_cast<uint32_t>(cols));
    w[5] = 1.5f;  // an outlier
    auto fast = Quantize(w, rows, cols, pool);
    if (fast == nullptr) continue;
    auto ref = format().quantize_ref(w.data(), rows, cols, {});
    ASSERT_TRUE(ref.ok()) << ref.message();
    EXPECT_TRUE(BitwiseEqual(Dequantize(*fast), Dequantize(*ref.value())))
        << GetParam() << " [" << rows << ", " << cols << "]";
    EXPECT_EQ(fast->format(), GetParam());
    EXPECT_EQ(fast->rows(), rows);
    EXPECT_EQ(fast->cols(), cols);
    ++tested;
  }
  EXPECT_GT(tested, 0) << GetParam() << " accepted none of the test shapes";
}

TEST_P(FormatTableTest, RoundTripErrorIsBounded) {
  ThreadPool pool(1);
  for (auto [rows, cols] : Shapes()) {
    auto w = RandomMatrix(rows, cols, 11);
    auto m = Quantize(w, rows, cols, pool);
    if (m == nullptr) continue;
    auto d = Dequantize(*m);
    // Per-tensor formats are bounded by the tensor max, the others by the row max.
    float tensor_max = 0.0f;
    for (float v : w) tensor_max = std::max(tensor_max, std::fabs(v));
    const bool per_tensor = GetParam().find("tensor") != std::string::npos;
    for (int64_t j = 0; j < rows; ++j) {
      float row_max = 0.0f;
      for (int64_t k = 0; k < cols; ++k) row_max = std::max(row_max, std::fabs(w[j * cols + k]));
      const double bound = RoundTripBound(GetParam()) * (per_tensor ? tensor_max : row_max) * 1.0001;
      for (int64_t k = 0; k < cols; ++k) {
        ASSERT_LE(std::fabs(d[j * cols + k] - w[j * cols + k]), bound)
            << GetParam() << " (" << j << ", " << k << ")";
      }
    }
  }
}

TEST_P(FormatTableTest, MultiplyMatchesDoubleReference) {
  ThreadPool pool(2);
  for (auto [rows, cols] : Shapes()) {
    auto w = RandomMatrix(rows, cols, 3);
    auto m = Quantize(w, rows, cols, pool);
    if (m == nullptr) continue;
    auto d = Dequantize(*m);
    for (int64_t n : {1, 3, 17}) {
      auto x = RandomMatrix(n, cols, 100 + static_cast<uint32_t>(n), 1.0f);
      std::vector<float> y(static_cast<size_t>(n * rows), -1.0f);
      m->Multiply(x.data(), n, y.data(), pool);
      for (int64_t t = 0; t < n; ++t) {
        double xn = 0;
        for (int64_t k = 0; k < cols; ++k) xn += double(x[t * cols + k]) * x[t * cols + k];
        for (int64_t j = 0; j < rows; ++j) {
          double ref = 0, wn = 0;
          for (int64_t k = 0; k < cols; ++k) {
            ref += double(x[t * cols + k]) * d[j * cols + k];
            wn += double(d[j * cols + k]) * d[j * cols + k];
          }
          const double tol = MultiplyTolerance(GetParam()) * std::sqrt(xn * wn) + 1e-6;
          ASSERT_NEAR(y[t * rows + j], ref, tol)
              << GetParam() << " [" << rows << ", " << cols << "] n=" << n << " t=" << t << " j=" << j;
        }
      }
    }
  }
}

TEST_P(FormatTableTest, OneAndTwoThreadsGiveIdenticalResults) {
  ThreadPool one(1), two(2);
  for (auto [rows, cols] : Shapes()) {
    auto w = RandomMatrix(rows, cols, 5);
    auto m = Quantize(w, rows, cols, one);
    if (m == nullptr) continue;
    auto m2 = Quantize(w, rows, cols, two);
    EXPECT_TRUE(BitwiseEqual(Dequantize(*m), Dequantize(*m2))) << GetParam();
    for (int64_t n : {1, 3, 17, 70}) {
      auto x = RandomMatrix(n, cols, 9, 2.0f);
      std::vector<float> y1(static_cast<size_t>(n * rows)), y2(y1.size());
      m->Multiply(x.data(), n, y1.data(), one);
      m->Multiply(x.data(), n, y2.data(), two);
      EXPECT_TRUE(BitwiseEqual(y1, y2)) << GetParam() << " n=" << n;
    }
  }
}

TEST_P(FormatTableTest, AllZeroWeightGivesZeros) {
  ThreadPool pool(2);
  for (auto [rows, cols] : Shapes()) {
    std::vector<float> w(static_cast<size_t>(rows * cols), 0.0f);
    auto m = Quantize(w, rows, cols, pool);
    if (m == nullptr) continue;
    for (float v : Dequantize(*m)) ASSERT_EQ(v, 0.0f) << GetParam();
    auto x = RandomMatrix(3, cols, 1, 1.0f);
    std::vector<float> y(static_cast<size_t>(3 * rows), 1.0f);
    m->Multiply(x.data(), 3, y.data(), pool);
    for (float v : y) ASSERT_EQ(v, 0.0f) << GetParam();
  }
}

TEST_P(FormatTableTest, ConstantAndExtremeValuesRoundTrip) {
  ThreadPool pool(1);
  for (auto [rows, cols] : Shapes()) {
    // Constant tensor: every format represents it within its bound.
    std::vector<float> w(static_cast<size_t>(rows * cols), 0.75f);
    auto m = Quantize(w, rows, cols, pool);
    if (m == nullptr) continue;
    for (float v : Dequantize(*m)) ASSERT_NEAR(v, 0.75f, RoundTripBound(GetParam()) * 0.75 + 1e-7) << GetParam();
    // ±max alternating, and one huge outlier among small values.
    for (int64_t i = 0; i < rows * cols; ++i) w[i] = (i % 2 ? 1.0f : -1.0f) * 3.0f;
    auto pm = Quantize(w, rows, cols, pool);
    ASSERT_NE(pm, nullptr);
    auto d = Dequantize(*pm);
    for (int64_t i = 0; i < rows * cols; ++i) ASSERT_NEAR(d[i], w[i], RoundTripBound(GetParam()) * 3.0 + 1e-6) << GetParam();
    w = RandomMatrix(rows, cols, 4, 0.01f);
    w[cols + 3] = 1000.0f;
    auto om = Quantize(w, rows, cols, pool);
    ASSERT_NE(om, nullptr);
    std::vector<float> row(static_cast<size_t>(cols));
    om->DequantizeRow(1, row.data());
    EXPECT_NEAR(row[3], 1000.0f, RoundTripBound(GetParam()) * 1000.0 + 1e-3) << GetParam();
  }
}

TEST_P(FormatTableTest, NonFiniteWeightsAreRejected) {
  ThreadPool pool(1);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    for (auto [rows, cols] : Shapes()) {
      auto w = RandomMatrix(rows, cols, 2);
      if (Quantize(w, rows, cols, pool) == nullptr) continue;
      w[cols * 2 + 1] = bad;
      auto fast = format().quantize(w.data(), rows, cols, {}, pool);
      EXPECT_FALSE(fast.ok()) << GetParam();
      auto ref = format().quantize_ref(w.data(), rows, cols, {});
      EXPECT_FALSE(ref.ok()) << GetParam();
      if (!fast.ok()) EXPECT_NE(fast.message().find(GetParam()), std::string::npos) << fast.message();
      break;
    }
  }
}

TEST_P(FormatTableTest, UnknownOptionIsRejected) {
  ThreadPool pool(1);
  auto w = RandomMatrix(32, 512, 1);
  auto r = format().quantize(w.data(), 32, 512, {{"no-such-key", 1.0}}, pool);
  ASSERT_FALSE(r.ok()) << GetParam();
  EXPECT_NE(r.message().find("no-such-key"), std::string::npos) << r.message();
  for (std::string_view key : format().param_keys) EXPECT_FALSE(key.empty());
}

TEST_P(FormatTableTest, StoredBytesAreAccounted) {
  ThreadPool pool(1);
  auto w = RandomMatrix(64, 512, 1);
  auto m = Quantize(w, 64, 512, pool);
  ASSERT_NE(m, nullptr) << GetParam();
  EXPECT_GT(m->StoredBytes(), 0);
  if (GetParam() != "fp32") EXPECT_LT(m->StoredBytes(), 64 * 512 * 4) << GetParam();
}

std::vector<std::string> FormatNames() {
  std::vector<std::string> names;
  for (const FormatTraits& f : FormatTable()) names.emplace_back(f.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllFormats, FormatTableTest, ::testing::ValuesIn(FormatNames()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s) if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

TEST(FormatTable, NamesAreUniqueAndRowsComplete) {
  std::map<std::string_view, int> seen;
  for (const FormatTraits& f : FormatTable()) {
    EXPECT_EQ(seen[f.name]++, 0) << f.name;
    EXPECT_FALSE(f.description.empty()) << f.name;
    EXPECT_NE(f.quantize, nullptr) << f.name;
    EXPECT_NE(f.quantize_ref, nullptr) << f.name;
    EXPECT_NE(f.hf_code_bits, nullptr) << f.name;
    EXPECT_TRUE(f.bench.empty() || f.bench == "q4_bench" || f.bench == "int8_bench") << f.name;
  }
  EXPECT_TRUE(seen.count("fp32") && seen.count("fp16") && seen.count("int8-row"));
}

TEST(FormatTable, FindFormatListsValidNames) {
  auto r = FindFormat("int7");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("int8-row"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("int7"), std::string::npos) << r.message();
  ASSERT_TRUE(FindFormat("llm-int8").ok());
  EXPECT_EQ(FindFormat("llm-int8").value()->name, "llm-int8");
}

}  // namespace
}  // namespace gpt2q
