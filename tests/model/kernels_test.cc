// Row kernels and attention: SIMD versions against their scalar references on odd sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/gemv.h"
#include "kernels/logsumexp.h"

namespace gpt2q {
namespace {

std::vector<float> RandomVector(int64_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(Kernels, LayerNormMatchesReference) {
  for (int64_t c : {1, 7, 8, 129, 768}) {
    auto x = RandomVector(3 * c, 1, 3.0f), g = RandomVector(c, 2), b = RandomVector(c, 3);
    std::vector<float> fast(x.size()), ref(x.size());
    LayerNorm(x.data(), 3, c, g.data(), b.data(), 1e-5f, fast.data());
    LayerNormRef(x.data(), 3, c, g.data(), b.data(), 1e-5f, ref.data());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(fast[i], ref[i], 2e-5f * (1 + std::fabs(ref[i]))) << c;
  }
}

TEST(Kernels, GeluMatchesReference) {
  std::vector<float> x;
  for (float v = -12.0f; v <= 12.0f; v += 0.0137f) x.push_back(v);
  auto fast = x, ref = x;
  GeluTanh(fast.data(), static_cast<int64_t>(fast.size()));
  GeluTanhRef(ref.data(), static_cast<int64_t>(ref.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(fast[i], ref[i], 1e-6f * (1 + std::fabs(ref[i]))) << x[i];
}

TEST(Kernels, SoftmaxMatchesReference) {
  for (int64_t n : {1, 5, 8, 33, 1000}) {
    auto x = RandomVector(n, 4, 10.0f);
    if (n > 1) x[0] = -INFINITY;  // a masked entry (a row of only −inf has no softmax)
    auto fast = x, ref = x;
    SoftmaxRow(fast.data(), n);
    SoftmaxRowRef(ref.data(), n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(fast[i], ref[i], 1e-6f);
      sum += fast[i];
    }
    if (n > 1) EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(Kernels, AttentionMatchesReference) {
  const int64_t D = 24, keys = 70, queries = 13, first = keys - queries;
  auto q = RandomVector(queries * D, 5), k = RandomVector(keys * D, 6), v = RandomVector(keys * D, 7);
  std::vector<float> fast(queries * D), ref(queries * D);
  AttentionArgs args{q.data(), D, k.data(), v.data(), fast.data(), D, queries, first, D};
  CausalAttention(args);
  args.out = ref.data();
  CausalAttentionRef(args);
  for (size_t i = 0; i < fast.size(); ++i) EXPECT_NEAR(fast[i], ref[i], 1e-5f);
}

TEST(Kernels, GemvMatchesReference) {
  for (int64_t rows : {1, 5, 37}) {
    for (int64_t cols : {3, 8, 129, 768}) {
      auto w = RandomVector((rows + 3) * (cols + 3), 10), x = RandomVector(cols, 11);
      std::vector<float> fast(rows), ref(rows);
      GemvRows(w.data(), rows, cols, cols + 3, x.data(), fast.data());
      GemvRowsRef(w.data(), rows, cols, cols + 3, x.data(), ref.data());
      for (int64_t o = 0; o < rows; ++o) EXPECT_NEAR(fast[o], ref[o], 1e-4f * std::sqrt(float(cols)));
      // The Conv1D direction: w as [cols inputs, rows outputs], accumulating into y.
      std::vector<float> acc(rows, 0.5f), acc_ref(rows, 0.5f);
      GemvColumnsAccumulate(w.data(), cols, rows, rows + 3, x.data(), acc.data());
      GemvColumnsAccumulateRef(w.data(), cols, rows, rows + 3, x.data(), acc_ref.data());
      for (int64_t o = 0; o < rows; ++o) EXPECT_NEAR(acc[o], acc_ref[o], 1e-4f * std::sqrt(float(cols)));
    }
  }
}

TEST(Kernels, LogSumExpAndKlMatchReference) {
  for (int64_t n : {1, 9, 50257}) {
    auto x = RandomVector(n, 8, 4.0f), y = RandomVector(n, 9, 4.0f);
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] + 0.05f * y[i];
    const double lx = LogSumExp(x.data(), n), ly = LogSumExp(y.data(), n);
    EXPECT_NEAR(lx, LogSumExpRef(x.data(), n), 1e-6 * std::fabs(lx) + 1e-9);
    const double kl = KlDivergence(x.data(), lx, y.data(), ly, n);
    const double kl_ref = KlDivergenceRef(x.data(), y.data(), n);
    EXPECT_NEAR(kl, kl_ref, 1e-3 * kl_ref + 1e-7) << n;
    EXPECT_EQ(KlDivergence(x.data(), lx, x.data(), lx, n), 0.0);
  }
}

}  // namespace
}  // namespace gpt2q
