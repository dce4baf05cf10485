// ggml block formats: hand-computed blocks, fast vs reference, round-trip error
// per format, Multiply vs double precision and vs the scalar dot products,
// threads 1 vs 2, zero and constant blocks, rejected inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "formats/ggml_formats.h"
#include "formats/ggml_quants.h"
#include "kernels/ggml_dot.h"

namespace gpt2q {
namespace {

// sqrt(Σ(w − w')² / Σw²) on N(0, 1) rows, per format (like ggml's
// MAX_QUANTIZATION_TOTAL_ERROR, one bound per type). Measured with this seed:
// q8_0 0.0054, q4_0 0.086, q4_1 0.079, q5_0 0.043, q5_1 0.038, q4_k 0.072, q6_k 0.018.
const std::map<GgmlType, double> kMaxQuantizationError = {
    {GgmlType::kQ8_0, 0.008}, {GgmlType::kQ4_0, 0.12}, {GgmlType::kQ4_1, 0.11},
    {GgmlType::kQ5_0, 0.06}, {GgmlType::kQ5_1, 0.055}, {GgmlType::kQ4_K, 0.10},
    {GgmlType::kQ6_K, 0.025}};

const GgmlType kTypes[] = {GgmlType::kQ8_0, GgmlType::kQ4_0, GgmlType::kQ4_1, GgmlType::kQ5_0,
                           GgmlType::kQ5_1, GgmlType::kQ4_K, GgmlType::kQ6_K};

std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> w(n);
  for (float& v : w) v = dist(rng);
  return w;
}

const GgmlMatrix& AsGgml(const std::unique_ptr<WeightMatrix>& m) {
  return dynamic_cast<const GgmlMatrix&>(*m);
}

std::vector<uint8_t> Bytes(const GgmlMatrix& m) {
  return std::vector<uint8_t>(m.row_data(0), m.row_data(0) + m.rows() * m.row_bytes());
}

TEST(GgmlTest, Q8_0KnownBlock) {
  // amax 127 → d = 1 (fp16 0x3C00), q = roundf(x): halves round away from zero.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 4.0f * j - 62.0f;
  x[31] = 127.0f;
  x[1] = 0.5f;
  x[2] = -0.5f;
  x[3] = 2.5f;
  BlockQ8_0 b;
  QuantizeRowQ8_0(x, &b, 32);
  EXPECT_EQ(b.d, 0x3C00);
  EXPECT_EQ(b.qs[0], -62);
  EXPECT_EQ(b.qs[1], 1);
  EXPECT_EQ(b.qs[2], -1);
  EXPECT_EQ(b.qs[3], 3);
  EXPECT_EQ(b.qs[30], 58);
  EXPECT_EQ(b.qs[31], 127);
}

TEST(GgmlTest, Q4_0KnownBlockOfARamp) {
  // x = j − 16: max = −16 (first of largest |x|), d = −16/−8 = 2 (0x4000),
  // q = min(15, trunc(x/2 + 8.5)) = (j + 1)/2, 16 → 15; qs[j] = q[j] | q[j+16] << 4.
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = j - 16.0f;
  BlockQ4_0 b;
  QuantizeRowQ4_0(x, &b, 32);
  EXPECT_EQ(b.d, 0x4000);
  const uint8_t expected[16] = {0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3, 0xC4,
                                0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7, 0xF8};
  EXPECT_EQ(std::memcmp(b.qs, expected, 16), 0);
}

TEST(GgmlTest, Q4_KKnownSuperBlock) {
  // Sub-block j: x = (l mod 16)·2^−j, an exact grid with min 0, so
  // make_qkx2_quants returns scale 2^−j, min 0, L = l mod 16. Then d = fp16(1/63)
  // = 0x2410, dmin = 0, sc_j = nearest_int(63·2^−j) = 63 32 16 8 4 2 1 0
  // (31.5 → 32 half to even), and the re-quantized L is unchanged.
  float x[256];
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 32; ++l) x[32 * j + l] = static_cast<float>(l % 16) * std::ldexp(1.0f, -j);
  BlockQ4_K b;
  QuantizeRowQ4_K(x, &b, 256);
  EXPECT_EQ(b.d, 0x2410);
  EXPECT_EQ(b.dmin, 0x0000);
  const uint8_t scales[12] = {63, 32, 16, 8, 0, 0, 0, 0, 4, 2, 1, 0};
  EXPECT_EQ(std::memcmp(b.scales, scales, 12), 0);
  for (int i = 0; i < 128; ++i) EXPECT_EQ(b.qs[i], (i % 16) * 0x11) << i;
}

TEST(GgmlTest, Q6_KKnownSuperBlock) {
  // Every 16-value sub-block: x = (l mod 16) − 8. make_qx_quants: max = −8,
  // iscale = 4, exact fit → scale 0.25 everywhere. iscale = −128/0.25 = −512,
  // d = fp16(−1/512) = 0x9800, sc = −128, q = 4x + 32 = 4·(l mod 16).
  float x[256];
  for (int l = 0; l < 256; ++l) x[l] = static_cast<float>(l % 16) - 8.0f;
  BlockQ6_K b;
  QuantizeRowQ6_K(x, &b, 256);
  EXPECT_EQ(b.d, 0x9800);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b.scales[j], -128);
  for (int l = 0; l < 128; ++l) EXPECT_EQ(b.ql[l], ((4 * (l % 16)) & 15) * 0x11) << l;
  for (int l = 0; l < 64; ++l) EXPECT_EQ(b.qh[l], ((l % 16) / 4) * 0x55) << l;
  float y[256];
  DequantizeRowQ6_K(&b, y, 256);
  for (int l = 0; l < 256; ++l) EXPECT_EQ(y[l], x[l]);
}

TEST(GgmlTest, FastAndReferenceGiveIdenticalBytes) {
  ThreadPool pool(2);
  auto w = Normal(37 * 512, 2);
  for (GgmlType t : kTypes) {
    const FormatTraits& f = *std::vector<const FormatTraits*>{
        &kQ8_0Format, &kQ4_0Format, &kQ4_1Format, &kQ5_0Format, &kQ5_1Format, &kQ4_KFormat,
        &kQ6_KFormat}[static_cast<int>(t)];
    auto fast = f.quantize(w.data(), 37, 512, {}, pool);
    auto ref = f.quantize_ref(w.data(), 37, 512, {});
    ASSERT_TRUE(fast.ok() && ref.ok());
    EXPECT_EQ(Bytes(AsGgml(fast.value())), Bytes(AsGgml(ref.value()))) << f.name;
    EXPECT_EQ(fast.value()->format(), f.name);
    EXPECT_EQ(fast.value()->StoredBytes(), 37 * 512 / f.block_size * f.block_bytes);
  }
}

TEST(GgmlTest, RoundTripErrorIsBounded) {
  auto w = Normal(16 * 1024, 3);
  for (GgmlType t : kTypes) {
    auto m = QuantizeGgml(t, w.data(), 16, 1024, {}, nullptr).value();
    std::vector<float> row(1024);
    double err = 0, sum = 0;
    for (int64_t r = 0; r < 16; ++r) {
      m->DequantizeRow(r, row.data());
      for (int c = 0; c < 1024; ++c) {
        const double d = row[c] - w[r * 1024 + c];
        err += d * d;
        sum += static_cast<double>(w[r * 1024 + c]) * w[r * 1024 + c];
      }
    }
    EXPECT_LT(std::sqrt(err / sum), kMaxQuantizationError.at(t)) << m->format();
  }
}

TEST(GgmlTest, MultiplyMatchesReferenceAndDoublePrecision) {
  for (GgmlType t : kTypes) {
    for (int64_t cols : {256, 512}) {
      const int64_t rows = 37;
      auto w = Normal(rows * cols, 5);
      auto m = QuantizeGgml(t, w.data(), rows, cols, {}, nullptr).value();
      const GgmlMatrix& g = AsGgml(m);
      std::vector<float> wd(rows * cols);
      for (int64_t r = 0; r < rows; ++r) g.DequantizeRow(r, wd.data() + r * cols);
      for (int64_t n : {1, 3, 17}) {
        auto x = Normal(n * cols, 50 + n);
        std::vector<float> y1(n * rows), y2(n * rows), yr(n * rows);
        ThreadPool p1(1), p2(2);
        g.Multiply(x.data(), n, y1.data(), p1);
        g.Multiply(x.data(), n, y2.data(), p2);
        g.MultiplyReference(x.data(), n, yr.data());
        EXPECT_EQ(y1, y2) << g.format() << " threads 1 vs 2, n=" << n;
        for (int64_t tk = 0; tk < n; ++tk) {
          for (int64_t r = 0; r < rows; ++r) {
            double ref = 0, wn = 0, xn = 0;
            for (int64_t c = 0; c < cols; ++c) {
              ref += static_cast<double>(wd[r * cols + c]) * x[tk * cols + c];
              wn += static_cast<double>(wd[r * cols + c]) * wd[r * cols + c];
              xn += static_cast<double>(x[tk * cols + c]) * x[tk * cols + c];
            }
            const double scale = std::sqrt(wn * xn);
            const float y = y1[tk * rows + r];
            // Same integer sums as the scalar dot: fp32 summation order only.
            ASSERT_NEAR(y, yr[tk * rows + r], 1e-5 * scale) << g.format();
            // 8-bit activations: about one activation step of error.
            ASSERT_NEAR(y, ref, 0.02 * scale) << g.format() << " n=" << n << " r=" << r;
          }
        }
      }
    }
  }
}

// A token's products do not depend on the tile it falls in: 17 tokens at once
// (tiles of 2 rows × 4 tokens, a remainder of 1) equal each token alone
// (decode: four rows at a time, the rows left over one at a time), bit for bit.
TEST(GgmlTest, TokenResultsDoNotDependOnTheBatch) {
  const int64_t rows = 37, cols = 512, n = 17;
  auto w = Normal(rows * cols, 21);
  auto x = Normal(n * cols, 22);
  ThreadPool pool(2);
  for (GgmlType t : kTypes) {
    auto m = QuantizeGgml(t, w.data(), rows, cols, {}, nullptr).value();
    std::vector<float> all(n * rows), one(rows);
    m->Multiply(x.data(), n, all.data(), pool);
    for (int64_t tk = 0; tk < n; ++tk) {
      m->Multiply(x.data() + tk * cols, 1, one.data(), pool);
      ASSERT_EQ(0, std::memcmp(one.data(), all.data() + tk * rows, rows * sizeof(float)))
          << m->format() << " token " << tk;
    }
  }
}

TEST(GgmlTest, VnniAndAvx2TilesAreIdentical) {
  if (!internal::HasAvx512Vnni()) GTEST_SKIP() << "no AVX512-VNNI on this CPU";
  const int64_t rows = 5, cols = 512;
  auto w = Normal(rows * cols, 13);
  for (GgmlType t : kTypes) {
    auto m = QuantizeGgml(t, w.data(), rows, cols, {}, nullptr).value();
    const GgmlMatrix& g = AsGgml(m);
    const bool k = GgmlUsesQ8K(t);
    const int64_t stride = k ? cols / 256 * sizeof(ActQ8K) : cols / 32 * sizeof(ActQ8);
    const int64_t nb = cols / GetGgmlTypeInfo(t).block_values;
    // n = 1: decode's four rows and a row left over; n = 7: the prefill tiles.
    for (int64_t n : {1, 7}) {
      auto x = Normal(n * cols, 14);
      std::vector<uint8_t> act(n * stride);
      for (int64_t i = 0; i < n; ++i) {
        if (k) {
          QuantizeActQ8K(x.data() + i * cols, reinterpret_cast<ActQ8K*>(act.data() + i * stride), cols);
        } else {
          QuantizeActQ8(x.data() + i * cols, reinterpret_cast<ActQ8*>(act.data() + i * stride), cols);
        }
      }
      std::vector<float> y1(n * rows), y2(n * rows);
      internal::GgmlTileAvx2(t, g.row_data(0), g.row_bytes(), nb, rows, act.data(), stride, n, y1.data(), rows);
      internal::GgmlTileVnni(t, g.row_data(0), g.row_bytes(), nb, rows, act.data(), stride, n, y2.data(), rows);
      EXPECT_EQ(y1, y2) << g.format() << " n=" << n;
    }
  }
}

TEST(GgmlTest, ZeroAndConstantBlocks) {
  std::vector<float> w(2 * 256, 0.0f);
  for (int i = 256; i < 512; ++i) w[i] = 0.75f;
  for (GgmlType t : kTypes) {
    auto m = QuantizeGgml(t, w.data(), 2, 256, {}, nullptr).value();
    std::vector<float> row(256);
    m->DequantizeRow(0, row.data());
    for (float v : row) ASSERT_EQ(v, 0.0f) << m->format();
    m->DequantizeRow(1, row.data());
    // fp16 scales: within a 2^-10 relative step (and 1/63 of a scale for q4_k).
    for (float v : row) ASSERT_NEAR(v, 0.75f, 0.75f * 0.02) << m->format();
    std::vector<float> x(256, 1.0f), y(2);
    ThreadPool pool(1);
    m->Multiply(x.data(), 1, y.data(), pool);
    EXPECT_EQ(y[0], 0.0f);
    EXPECT_NEAR(y[1], 192.0f, 192.0f * 0.03) << m->format();
  }
}

TEST(GgmlTest, RejectsBadInput) {
  auto w = Normal(4 * 256, 7);
  auto odd = QuantizeGgml(GgmlType::kQ4_K, w.data(), 4, 100, {}, nullptr);
  ASSERT_FALSE(odd.ok());
  EXPECT_NE(odd.message().find("block size 256"), std::string::npos) << odd.message();
  EXPECT_FALSE(QuantizeGgml(GgmlType::kQ4_0, w.data(), 4, 48, {}, nullptr).ok());
  EXPECT_FALSE(QuantizeGgml(GgmlType::kQ8_0, w.data(), 4, 256, {{"block", 32}}, nullptr).ok());
  w[300] = std::numeric_limits<float>::quiet_NaN();
  auto nan = QuantizeGgml(GgmlType::kQ6_K, w.data(), 4, 256, {}, nullptr);
  ASSERT_FALSE(nan.ok());
  EXPECT_NE(nan.message().find("row 1, col 44"), std::string::npos) << nan.message();
  w[300] = -std::numeric_limits<float>::infinity();
  EXPECT_FALSE(QuantizeGgml(GgmlType::kQ5_1, w.data(), 4, 256, {}, nullptr).ok());
}

}  // namespace
}  // namespace gpt2q
