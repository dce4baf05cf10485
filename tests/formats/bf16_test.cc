// bf16: round-to-nearest-even storage, bad input, and the bf16 dot products:
// every kernel equals the scalar reference bit for bit, a token's result does
// not depend on the batch or the threads, and the error is that of rounding
// the activations to bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/thread_pool.h"
#include "formats/bf16_matrix.h"
#include "kernels/bf16_dot.h"

namespace gpt2q {
namespace {

std::vector<float> Normal(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

const Bf16Matrix& AsBf16(const std::unique_ptr<WeightMatrix>& m) { return dynamic_cast<const Bf16Matrix&>(*m); }

TEST(Bf16Test, RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between bf16 1 (0x3F80) and 1 + 2^-7 (0x3F81): to even.
  // 1 + 3·2^-8 is halfway between 0x3F81 and 0x3F82: to even (up). Just above a tie: up.
  const float w[] = {1.0f, BitsToFloat(0x3F808000), BitsToFloat(0x3F818000), BitsToFloat(0x3F808001),
                     -2.5f, 0.0f, -0.0f, BitsToFloat(0x00000001)};
  const uint16_t expected[] = {0x3F80, 0x3F80, 0x3F82, 0x3F81, 0xC020, 0x0000, 0x8000, 0x0000};
  ThreadPool pool(2);
  auto fast = kBf16Format.quantize(w, 1, 8, {}, pool);
  auto ref = kBf16Format.quantize_ref(w, 1, 8, {});
  ASSERT_TRUE(fast.ok() && ref.ok());
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(AsBf16(fast.value()).data()[i], expected[i]) << i;
    EXPECT_EQ(AsBf16(ref.value()).data()[i], expected[i]) << i;
  }
  std::vector<float> row(8);
  fast.value()->DequantizeRow(0, row.data());
  EXPECT_EQ(row[1], 1.0f);
  EXPECT_EQ(row[4], -2.5f);
}

TEST(Bf16Test, RejectsNonFiniteAndOverflowNamingTheElement) {
  ThreadPool pool(1);
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::max()}) {  // FLT_MAX rounds to bf16 infinity
    std::vector<float> w(6, 0.5f);
    w[4] = bad;
    auto r = kBf16Format.quantize(w.data(), 2, 3, {}, pool);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.message().find("element (1, 1)"), std::string::npos) << r.message();
    EXPECT_FALSE(kBf16Format.quantize_ref(w.data(), 2, 3, {}).ok());
  }
  std::vector<float> w(4, 1.0f);
  EXPECT_FALSE(kBf16Format.quantize(w.data(), 2, 2, {{"block", 2}}, pool).ok());
}

// 7 rows (a group of four and three left over), columns with and without a
// partial last step, 1..5 tokens: every kernel gives the reference's bits.
TEST(Bf16Test, TileKernelsEqualTheScalarReference) {
  for (int64_t cols : {512, 100, 32, 18}) {
    const int64_t rows = 7, padded = Bf16PaddedCols(cols);
    ThreadPool pool(1);
    auto w = Normal(rows * cols, 3);
    auto m = kBf16Format.quantize(w.data(), rows, cols, {}, pool).value();
    const uint16_t* wb = AsBf16(m).data();
    for (int64_t n : {1, 3, 5}) {
      auto x = Normal(n * cols, 10 + n);
      std::vector<uint16_t> xb(n * padded);
      Bf16PackActivations(x.data(), n, cols, xb.data());
      std::vector<float> ref(n * rows), avx2(n * rows), any(n * rows);
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t r = 0; r < rows; ++r) ref[t * rows + r] = Bf16DotRef(wb + r * cols, cols, xb.data() + t * padded);
      }
      internal::Bf16TileAvx2(wb, cols, rows, xb.data(), n, avx2.data(), rows);
      Bf16Tile(wb, cols, rows, xb.data(), n, any.data(), rows);
      EXPECT_EQ(0, std::memcmp(ref.data(), avx2.data(), ref.size() * sizeof(float))) << cols << " n=" << n;
      EXPECT_EQ(0, std::memcmp(ref.data(), any.data(), ref.size() * sizeof(float))) << cols << " n=" << n;
    }
  }
}

TEST(Bf16Test, Avx512Bf16TileEqualsTheScalarReference) {
  if (!internal::HasAvx512Bf16()) GTEST_SKIP() << "no AVX512-BF16 on this CPU";
  for (int64_t cols : {512, 100}) {
    const int64_t rows = 7, n = 5, padded = Bf16PaddedCols(cols);
    auto w = Normal(rows * cols, 4);
    auto m = kBf16Format.quantize_ref(w.data(), rows, cols, {}).value();
    const uint16_t* wb = AsBf16(m).data();
    auto x = Normal(n * cols, 5);
    std::vector<uint16_t> xb(n * padded);
    Bf16PackActivations(x.data(), n, cols, xb.data());
    std::vector<float> ref(n * rows), native(n * rows);
    for (int64_t t = 0; t < n; ++t) {
      for (int64_t r = 0; r < rows; ++r) ref[t * rows + r] = Bf16DotRef(wb + r * cols, cols, xb.data() + t * padded);
    }
    internal::Bf16TileAvx512(wb, cols, rows, xb.data(), n, native.data(), rows);
    EXPECT_EQ(0, std::memcmp(ref.data(), native.data(), ref.size() * sizeof(float))) << cols;
  }
}

// Decode (one token, rows one at a time), prefill tiles (four rows, tokens in
// tiles of 32) and 1 or 2 threads: the same bits. The error against double
// precision over the bf16 weights is that of rounding x to bf16 (2^-9 relative
// per value).
TEST(Bf16Test, MultiplyIsBatchAndThreadIndependentAndAccurate) {
  const int64_t rows = 70, cols = 768, n = 37;
  auto w = Normal(rows * cols, 6);
  auto x = Normal(n * cols, 7);
  ThreadPool p1(1), p2(2);
  auto m = kBf16Format.quantize(w.data(), rows, cols, {}, p2).value();
  std::vector<float> all1(n * rows), all2(n * rows), one(rows);
  m->Multiply(x.data(), n, all1.data(), p1);
  m->Multiply(x.data(), n, all2.data(), p2);
  EXPECT_EQ(all1, all2);
  std::vector<float> wd(cols);
  for (int64_t t = 0; t < n; ++t) {
    m->Multiply(x.data() + t * cols, 1, one.data(), p2);
    ASSERT_EQ(0, std::memcmp(one.data(), all1.data() + t * rows, rows * sizeof(float))) << "token " << t;
    for (int64_t r = 0; r < rows; ++r) {
      m->DequantizeRow(r, wd.data());
      double ref = 0, norm = 0;
      for (int64_t c = 0; c < cols; ++c) {
        ref += static_cast<double>(wd[c]) * x[t * cols + c];
        norm += std::fabs(static_cast<double>(wd[c]) * x[t * cols + c]);
      }
      ASSERT_NEAR(all1[t * rows + r], ref, 0.004 * norm) << t << " " << r;
    }
  }
}

// (Loading it back is checked for every method by CheckpointRoundTripTest.)
TEST(Bf16Test, StoresItsValuesAsBf16) {
  ThreadPool pool(1);
  auto w = Normal(5 * 64, 8);
  auto m = kBf16Format.quantize(w.data(), 5, 64, {}, pool).value();
  const StoredMatrix stored = m->Store();
  ASSERT_EQ(stored.parts.size(), 1u);
  EXPECT_EQ(stored.parts[0].dtype, "BF16");
  EXPECT_EQ(stored.parts[0].shape, (std::vector<int64_t>{5, 64}));
  ASSERT_EQ(stored.parts[0].bytes.size(), 5u * 64 * 2);
  EXPECT_EQ(0, std::memcmp(stored.parts[0].bytes.data(), AsBf16(m).data(), 5 * 64 * 2));
  EXPECT_EQ(m->StoredBytes(), 5 * 64 * 2);
}

}  // namespace
}  // namespace gpt2q
