// nf4/fp4 (bitsandbytes 4-bit): hand-computed codes, fast vs scalar quantizer,
// double quantization, kernels vs a double-precision product, edge cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "formats/bnb4.h"
#include "formats/fp4.h"
#include "formats/nf4.h"
#include "kernels/q4_bnb4.h"

namespace gpt2q {
namespace {

// Mean |w − w'| / mean |w| on N(0, 1) weights, 64-value blocks. Measured with
// this seed: 0.089 (nf4) and 0.119 (fp4).
constexpr double kNf4MaxRelativeError = 0.11;
constexpr double kFp4MaxRelativeError = 0.15;

std::vector<float> Normal(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> w(n);
  for (float& v : w) v = dist(rng);
  return w;
}

const Bnb4Matrix& AsBnb4(const std::unique_ptr<WeightMatrix>& m) {
  return dynamic_cast<const Bnb4Matrix&>(*m);
}

std::vector<uint8_t> Codes(const Bnb4Matrix& m) {
  const auto& c = m.storage().codes;
  return std::vector<uint8_t>(c.data(), c.data() + c.size());
}

// 16 values with absmax 1 (so x/absmax = x), covering every branch of the trees.
const std::vector<float> kFixed = {1.0f,  -1.0f, 0.0f, 0.5f, -0.5f, 0.04f, 0.03f, -0.05f,
                                   -0.04f, 0.9f, 0.86f, -0.85f, 0.2f, 0.3f, 0.7f, -0.3f};

TEST(Bnb4Test, Nf4CodesMatchHandComputedTable) {
  // Codes by the dQuantizeNF4 thresholds: 15 0 7 12 2 8 7 6 7 15 14 0 9 11 14 4.
  const std::vector<uint8_t> expected = {0xF0, 0x7C, 0x28, 0x76, 0x7F, 0xE0, 0x9B, 0xE4};
  auto r = kNf4Format.quantize_ref(kFixed.data(), 1, 16, {{"block", 16}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(Codes(AsBnb4(r.value())), expected);
  EXPECT_EQ(AsBnb4(r.value()).storage().absmax, std::vector<float>{1.0f});
  ThreadPool pool(1);
  auto f = kNf4Format.quantize(kFixed.data(), 1, 16, {{"block", 16}}, pool);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Codes(AsBnb4(f.value())), expected);
}

TEST(Bnb4Test, Fp4CodesMatchHandComputedTable) {
  // Codes (sign·8 + magnitude code): 3 11 0 5 13 1 1 9 9 3 3 11 6 4 2 12.
  const std::vector<uint8_t> expected = {0x3B, 0x05, 0xD1, 0x19, 0x93, 0x3B, 0x64, 0x2C};
  auto r = kFp4Format.quantize_ref(kFixed.data(), 1, 16, {{"block", 16}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(Codes(AsBnb4(r.value())), expected);
  ThreadPool pool(1);
  auto f = kFp4Format.quantize(kFixed.data(), 1, 16, {{"block", 16}}, pool);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(Codes(AsBnb4(f.value())), expected);
}

TEST(Bnb4Test, ValuesOnAThresholdTakeTheLowerCode) {
  for (int t = 0; t < 15; ++t) EXPECT_EQ(QuantizeNf4Value(kNf4Thresholds[t]), t);
  for (int t = 0; t < 7; ++t) EXPECT_EQ(QuantizeFp4Value(kFp4Thresholds[t]), kFp4RankToCode[t]);
  // Each codebook value maps to its own code.
  for (int c = 0; c < 16; ++c) EXPECT_EQ(QuantizeNf4Value(Bnb4Codebook(Bnb4Kind::kNf4)[c]), c);
  for (int c = 1; c < 16; ++c) {
    if (c == 8) continue;  // −0 is stored as +0 (code 0)
    EXPECT_EQ(QuantizeFp4Value(Bnb4Codebook(Bnb4Kind::kFp4)[c]), c);
  }
}

TEST(Bnb4Test, FastAndReferenceGiveIdenticalCodes) {
  ThreadPool pool(2);
  for (const FormatTraits* f : {&kNf4Format, &kFp4Format}) {
    for (auto [rows, cols, block] : {std::tuple<int64_t, int64_t, double>{37, 100, 64},
                                     {3, 37, 64}, {37, 256, 128}, {5, 4096, 4096}}) {
      auto w = Normal(rows * cols, 3);
      for (int i = 0; i < 64 && i < rows * cols; ++i) w[i] = 0.0f;  // an all-zero block
      const FormatParams params = {{"block", block}};
      auto fast = f->quantize(w.data(), rows, cols, params, pool);
      auto ref = f->quantize_ref(w.data(), rows, cols, params);
      ASSERT_TRUE(fast.ok() && ref.ok());
      EXPECT_EQ(Codes(AsBnb4(fast.value())), Codes(AsBnb4(ref.value())))
          << f->name << " " << rows << "x" << cols;
      EXPECT_EQ(AsBnb4(fast.value()).storage().absmax, AsBnb4(ref.value()).storage().absmax);
    }
  }
}

TEST(Bnb4Test, RoundTripErrorIsBounded) {
  ThreadPool pool(1);
  const int64_t rows = 64, cols = 256;
  auto w = Normal(rows * cols, 5);
  for (const FormatTraits* f : {&kNf4Format, &kFp4Format}) {
    auto m = f->quantize(w.data(), rows, cols, {}, pool).value();
    std::vector<float> row(cols);
    double err = 0, mag = 0;
    for (int64_t r = 0; r < rows; ++r) {
      m->DequantizeRow(r, row.data());
      for (int64_t c = 0; c < cols; ++c) {
        err += std::fabs(row[c] - w[r * cols + c]);
        mag += std::fabs(w[r * cols + c]);
      }
    }
    EXPECT_LT(err / mag, f == &kNf4Format ? kNf4MaxRelativeError : kFp4MaxRelativeError) << f->name;
  }
}

TEST(Bnb4Test, DynamicMapIsBitsandbytesSignedCode) {
  const auto& code = DynamicMap8();
  for (int i = 1; i < 256; ++i) EXPECT_LT(code[i - 1], code[i]);
  EXPECT_EQ(code[127], 0.0f);
  EXPECT_EQ(code[255], 1.0f);
  // The smallest magnitude: 10^-6 · (0.1 + 1)/2; the largest below 1: (0.9859375 + 1)/2.
  EXPECT_FLOAT_EQ(code[128], 5.5e-7f);
  EXPECT_FLOAT_EQ(code[126], -5.5e-7f);
  EXPECT_NEAR(code[254], 0.99296875, 1e-6);
  EXPECT_NEAR(code[0], -0.99296875, 1e-6);
  EXPECT_EQ(QuantizeDynamic8(1.0f), 255);
  EXPECT_EQ(QuantizeDynamic8(0.0f), 127);
  EXPECT_EQ(QuantizeDynamic8(-1.0f), 0);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(QuantizeDynamic8(code[i]), i) << i;
}

TEST(Bnb4Test, DoubleQuantizationRoundTrip) {
  ThreadPool pool(2);
  const int64_t rows = 96, cols = 256;  // 384 blocks of 64: two nested blocks of 256
  auto w = Normal(rows * cols, 9, 0.05f);
  auto single = kNf4Format.quantize(w.data(), rows, cols, {}, pool).value();
  auto dbl = kNf4Format.quantize(w.data(), rows, cols, {{"double", 1}}, pool).value();
  auto dbl_ref = kNf4Format.quantize_ref(w.data(), rows, cols, {{"double", 1}}).value();
  const Bnb4Matrix& s = AsBnb4(single);
  const Bnb4Matrix& d = AsBnb4(dbl);
  // The 4-bit codes use the exact absmax; only the absmax storage differs.
  EXPECT_EQ(Codes(s), Codes(d));
  EXPECT_EQ(d.storage().qabsmax, AsBnb4(dbl_ref).storage().qabsmax);
  ASSERT_EQ(d.storage().nested_absmax.size(), 2u);
  double mean = 0;
  for (float a : s.storage().absmax) mean += a;
  mean /= s.n_blocks();
  EXPECT_NEAR(d.storage().offset, mean, 1e-6);
  for (int64_t b = 0; b < s.n_blocks(); ++b) {
    // 8-bit dynamic code: relative step below 1/64 of the nested absmax near its top.
    const float nested = d.storage().nested_absmax[b / 256];
    EXPECT_NEAR(d.BlockAbsmax(b), s.storage().absmax[b], nested / 64 + 1e-7) << b;
  }
  // Bytes: codes + 8-bit absmax + nested fp32 absmax + offset + 256-entry code + quant map.
  EXPECT_EQ(d.StoredBytes(), rows * cols / 2 + 384 + 2 * 4 + 4 + 1024 + 64);
  EXPECT_EQ(s.StoredBytes(), rows * cols / 2 + 384 * 4 + 64);
}

// Multiply vs Σ double(w'·x) over the dequantized weights.
void ExpectMultiplyMatches(const WeightMatrix& m, int64_t n, uint32_t seed) {
  const int64_t rows = m.rows(), cols = m.cols();
  auto x = Normal(n * cols, seed);
  std::vector<float> wd(rows * cols);
  for (int64_t r = 0; r < rows; ++r) m.DequantizeRow(r, wd.data() + r * cols);
  std::vector<float> y1(n * rows), y2(n * rows);
  ThreadPool p1(1), p2(2);
  m.Multiply(x.data(), n, y1.data(), p1);
  m.Multiply(x.data(), n, y2.data(), p2);
  EXPECT_EQ(y1, y2) << "threads 1 vs 2, n=" << n;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0, norm = 0;
      for (int64_t c = 0; c < cols; ++c) {
        ref += static_cast<double>(wd[r * cols + c]) * x[t * cols + c];
        norm += std::fabs(static_cast<double>(wd[r * cols + c]) * x[t * cols + c]);
      }
      ASSERT_NEAR(y1[t * rows + r], ref, 1e-5 * norm + 1e-6) << m.format() << " n=" << n << " t=" << t << " r=" << r;
    }
  }
}

TEST(Bnb4Test, MultiplyMatchesDoublePrecision) {
  ThreadPool pool(1);
  for (const FormatTraits* f : {&kNf4Format, &kFp4Format}) {
    for (int64_t cols : {256, 512, 100}) {
      for (double dq : {0.0, 1.0}) {
        // 130 rows: decode runs in chunks of 64 rows, so a chunk starts past row 0
        // (UBSan caught an offset into the empty fp32 absmax of double=1 there).
        for (int64_t rows : {37, 130}) {
          auto w = Normal(rows * cols, 21);
          auto m = f->quantize(w.data(), rows, cols, {{"double", dq}}, pool).value();
          for (int64_t n : {1, 3, 17}) ExpectMultiplyMatches(*m, n, 100 + n);
        }
      }
    }
  }
}

// Blocks of 32 take the 16-value kernel, 64 and 128 (AVX2) the byte-table one.
TEST(Bnb4Test, StreamingKernelMatchesReference) {
  auto w = Normal(512, 4);
  auto x = Normal(5 * 512, 8);
  for (int64_t block : {32, 64, 128}) {
    auto m = kNf4Format.quantize_ref(w.data(), 1, 512, {{"block", static_cast<double>(block)}}).value();
    const Bnb4Matrix& b = AsBnb4(m);
    std::vector<float> xp(x.size());
    Bnb4PermuteActivations(x.data(), 5, 512, block, xp.data());
    float y[5], y_ref[5];
    Bnb4RowDot(b.storage().codes.data(), b.storage().absmax.data(), 512, block,
               Bnb4Codebook(Bnb4Kind::kNf4).data(), xp.data(), 5, 512, y, 1);
    Bnb4RowDotRef(b.storage().codes.data(), b.storage().absmax.data(), 512, block,
                  Bnb4Codebook(Bnb4Kind::kNf4).data(), x.data(), 5, 512, y_ref, 1);
    for (int t = 0; t < 5; ++t) EXPECT_NEAR(y[t], y_ref[t], 1e-4 * (1 + std::fabs(y_ref[t]))) << block;
    if (internal::HasAvx512()) {
      internal::Bnb4PermuteInOrder(x.data(), 5, 512, /*order64=*/block % 64 == 0, xp.data());
      internal::Bnb4RowDotAvx2(b.storage().codes.data(), b.storage().absmax.data(), 512, block,
                               Bnb4Codebook(Bnb4Kind::kNf4).data(), xp.data(), 5, 512, y, 1);
      for (int t = 0; t < 5; ++t) EXPECT_NEAR(y[t], y_ref[t], 1e-4 * (1 + std::fabs(y_ref[t]))) << block;
    }
  }
}

TEST(Bnb4Test, ZeroAndConstantBlocks) {
  ThreadPool pool(1);
  std::vector<float> w(128, 0.0f);
  for (int i = 64; i < 128; ++i) w[i] = -0.25f;
  auto nf4 = kNf4Format.quantize(w.data(), 2, 64, {}, pool).value();
  auto fp4 = kFp4Format.quantize(w.data(), 2, 64, {}, pool).value();
  // All-zero block: absmax 0, 0·(1/0) = NaN → code 0 in both trees (bitsandbytes' CUDA kernel).
  EXPECT_EQ(AsBnb4(nf4).storage().absmax[0], 0.0f);
  EXPECT_EQ(AsBnb4(nf4).storage().codes.data()[0], 0x00);
  // Constant block: every value is −absmax → NF4 code 0 (−1), FP4 code 11 (−1).
  EXPECT_EQ(AsBnb4(nf4).storage().codes.data()[32], 0x00);
  EXPECT_EQ(AsBnb4(fp4).storage().codes.data()[32], 0xBB);
  std::vector<float> row(64);
  for (const auto* m : {&nf4, &fp4}) {
    (*m)->DequantizeRow(0, row.data());
    for (float v : row) EXPECT_EQ(v, 0.0f);
    (*m)->DequantizeRow(1, row.data());
    for (float v : row) EXPECT_EQ(v, -0.25f);
  }
}

TEST(Bnb4Test, RejectsNonFiniteAndBadOptions) {
  ThreadPool pool(1);
  auto w = Normal(64, 1);
  w[10] = std::numeric_limits<float>::quiet_NaN();
  auto r = kNf4Format.quantize(w.data(), 1, 64, {}, pool);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("col 10"), std::string::npos) << r.message();
  w[10] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(kFp4Format.quantize_ref(w.data(), 1, 64, {}).ok());
  w[10] = 0.0f;
  EXPECT_FALSE(kNf4Format.quantize(w.data(), 1, 64, {{"block", 48}}, pool).ok());
  EXPECT_FALSE(kNf4Format.quantize(w.data(), 1, 64, {{"double", 2}}, pool).ok());
  auto bad = kNf4Format.quantize(w.data(), 1, 64, {{"group", 64}}, pool);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("block, double"), std::string::npos);
}

}  // namespace
}  // namespace gpt2q
