// GPTQ's pieces on synthetic data: the LAPACK Cholesky inverse, the Hessian
// accumulator, and the one-layer solver against round-to-nearest and against
// a plain (non-lazy) transcription of gptq.py's column loop.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "formats/minmax_quantizer.h"
#include "kernels/blas.h"
#include "kernels/cholesky.h"
#include "quant/gptq_solver.h"
#include "quant/hessian.h"
#include "../random_values.h"

namespace gpt2q {
namespace {

using testing::Gaussian;

// Correlated calibration inputs [t, n]: x = z·M with a random mixing matrix M
// and per-channel magnitudes spread over two decades, like real activations.
std::vector<float> CorrelatedInputs(int64_t t, int64_t n, uint32_t seed) {
  std::vector<float> z = Gaussian(t * n, seed), m = Gaussian(n * n, seed + 1, 1.0f / std::sqrt(float(n)));
  for (int64_t i = 0; i < n; ++i) m[i * n + i] += 1.0f;
  std::vector<float> x(t * n, 0.0f);
  for (int64_t r = 0; r < t; ++r) {
    for (int64_t k = 0; k < n; ++k) {
      const float zk = z[r * n + k];
      for (int64_t j = 0; j < n; ++j) x[r * n + j] += zk * m[k * n + j];
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    const float mag = std::pow(10.0f, 2.0f * float(j % 7) / 6.0f - 1.0f);
    for (int64_t r = 0; r < t; ++r) x[r * n + j] *= mag;
  }
  return x;
}

std::vector<float> HessianOf(const std::vector<float>& x, int64_t n, int64_t samples, ThreadPool& pool) {
  HessianAccumulator acc(n);
  acc.Add(x.data(), static_cast<int64_t>(x.size()) / n, samples, pool);
  return acc.Symmetric();
}

// Round-to-nearest with GPTQ's quantizer: parameters from the original groups.
std::vector<float> Rtn(const std::vector<float>& w, int64_t rows, int64_t cols, int bits, int64_t group, bool sym) {
  const int64_t gs = group == -1 ? cols : group;
  std::vector<float> out(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c0 = 0; c0 < cols; c0 += gs) {
      const int64_t len = std::min(gs, cols - c0);
      const GroupQuant g = GptqGroupQuant(w.data() + r * cols + c0, len, bits, sym);
      for (int64_t c = c0; c < c0 + len; ++c) {
        out[r * cols + c] = DequantizeCode(QuantizeToCode(w[r * cols + c], g, MaxCode(bits)), g);
      }
    }
  }
  return out;
}

// ‖X·Wᵀ − X·Ŵᵀ‖² in double.
double OutputError(const std::vector<float>& x, const std::vector<float>& w, const std::vector<float>& wq,
                   int64_t rows, int64_t cols) {
  const int64_t t = static_cast<int64_t>(x.size()) / cols;
  double total = 0;
  for (int64_t i = 0; i < t; ++i) {
    for (int64_t r = 0; r < rows; ++r) {
      double d = 0;
      for (int64_t c = 0; c < cols; ++c) d += double(x[i * cols + c]) * (double(w[r * cols + c]) - wq[r * cols + c]);
      total += d * d;
    }
  }
  return total;
}

class GptqTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { UseSingleThreadedBlas(); }
};

TEST_F(GptqTest, InverseCholeskyUpperFactorsTheInverse) {
  const int64_t n = 37;
  std::vector<float> x = Gaussian(200 * n, 1);  // well conditioned: fp32 keeps UᵀU·H close to I
  ThreadPool pool(1);
  std::vector<float> h = HessianOf(x, n, 1, pool);
  std::vector<float> u = h;
  ASSERT_TRUE(InverseCholeskyUpper(u.data(), n).ok());
  // Uᵀ·U·H = I.
  double max_err = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < i; ++j) EXPECT_EQ(u[i * n + j], 0.0f) << i << "," << j;
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) {
        double inv_ik = 0;  // (UᵀU)[i, k]
        for (int64_t m = 0; m <= std::min(i, k); ++m) inv_ik += double(u[m * n + i]) * u[m * n + k];
        s += inv_ik * h[k * n + j];
      }
      max_err = std::max(max_err, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  }
  EXPECT_LT(max_err, 1e-3);
}

TEST_F(GptqTest, InverseCholeskyUpperRejectsIndefinite) {
  std::vector<float> a = {1, 2, 2, 1};  // eigenvalues 3 and −1
  Status s = InverseCholeskyUpper(a.data(), 2);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("not positive definite"), std::string::npos) << s.message();
}

TEST_F(GptqTest, HessianMatchesDoubleFormulaAcrossBatchesAndThreads) {
  const int64_t n = 300;  // more than one 256-wide tile, with a ragged edge
  std::vector<float> x = CorrelatedInputs(90, n, 2);
  // Three batches: 1 sample of 30 rows, 2 samples of 40 rows, 1 sample of 20.
  const int64_t rows[] = {30, 40, 20}, samples[] = {1, 2, 1};
  std::vector<float> by_threads[2];
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    HessianAccumulator acc(n);
    int64_t r0 = 0;
    for (int b = 0; b < 3; ++b) {
      acc.Add(x.data() + r0 * n, rows[b], samples[b], pool);
      r0 += rows[b];
    }
    EXPECT_EQ(acc.n_samples(), 4);
    by_threads[threads - 1] = acc.Symmetric();
  }
  EXPECT_EQ(by_threads[0], by_threads[1]);
  const std::vector<float>& h = by_threads[0];
  double max_rel = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t t = 0; t < 90; ++t) s += double(x[t * n + i]) * x[t * n + j];
      s *= 2.0 / 4.0;  // N counts samples, not rows
      const double scale = std::sqrt(double(h[i * n + i]) * h[j * n + j]);
      max_rel = std::max(max_rel, std::fabs(h[i * n + j] - s) / scale);
    }
  }
  EXPECT_LT(max_rel, 1e-5);
}

TEST_F(GptqTest, IdentityHessianEqualsRoundToNearest) {
  ThreadPool pool(2);
  const int64_t rows = 40, cols = 200;  // group 64: a last group of 8 columns
  std::vector<float> w = Gaussian(rows * cols, 3, 0.05f);
  w[5 * cols + 199] = 0.4f;  // an outlier in a short last group
  std::vector<float> eye(cols * cols, 0.0f);
  for (int64_t j = 0; j < cols; ++j) eye[j * cols + j] = 1.0f;
  for (int bits : {2, 3, 4, 8}) {
    for (int64_t group : {int64_t{-1}, int64_t{64}, int64_t{128}}) {
      for (bool sym : {false, true}) {
        for (float damp : {0.0f, 0.01f, 0.5f}) {
          GptqOptions o;
          o.bits = bits, o.group = group, o.sym = sym, o.damp = damp, o.block = 48;
          auto res = GptqQuantize("test", w.data(), rows, cols, eye, o, pool);
          ASSERT_TRUE(res.ok()) << res.message();
          EXPECT_EQ(res->dequantized, Rtn(w, rows, cols, bits, group, sym))
              << "bits " << bits << " group " << group << " sym " << sym << " damp " << damp;
          EXPECT_EQ(res->n_groups, group == -1 ? 1 : (cols + group - 1) / group);
          if (damp == 0.0f) {  // d = 1: the error is Σ (w − q)² / 2
            double e = 0;
            for (int64_t i = 0; i < rows * cols; ++i) e += std::pow(double(w[i]) - res->dequantized[i], 2);
            EXPECT_NEAR(res->layer_error, e / 2, 1e-9 * e);
          }
        }
      }
    }
  }
}

TEST_F(GptqTest, LowerOutputErrorThanRoundToNearestOnCorrelatedInputs) {
  ThreadPool pool(2);
  const int64_t rows = 64, cols = 160;
  std::vector<float> x = CorrelatedInputs(600, cols, 4);
  std::vector<float> w = Gaussian(rows * cols, 5, 0.05f);
  std::vector<float> h = HessianOf(x, cols, 8, pool);
  struct Case { int bits; int64_t group; bool act_order; };
  for (Case c : {Case{4, 64, false}, Case{3, 64, false}, Case{4, -1, true}, Case{3, 64, true}, Case{2, -1, false}}) {
    GptqOptions o;
    o.bits = c.bits, o.group = c.group, o.act_order = c.act_order, o.block = 32;
    auto res = GptqQuantize("test", w.data(), rows, cols, h, o, pool);
    ASSERT_TRUE(res.ok()) << res.message();
    const double gptq = OutputError(x, w, res->dequantized, rows, cols);
    const double rtn = OutputError(x, w, Rtn(w, rows, cols, c.bits, c.group, false), rows, cols);
    EXPECT_LT(gptq, 0.8 * rtn) << "bits " << c.bits << " group " << c.group << " act_order " << c.act_order;
  }
}

// gptq.py's column loop without lazy batches (every update applied to all
// later columns at once), in double, group −1 — the case where lazy and eager
// updates are the same algorithm.
std::vector<float> EagerGptqPerRow(const std::vector<float>& w, int64_t rows, int64_t cols, std::vector<float> h,
                                   int bits, bool act_order, float damp) {
  std::vector<float> out(w.size());
  std::vector<int64_t> perm(cols);
  for (int64_t j = 0; j < cols; ++j) perm[j] = j;
  if (act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return h[a * cols + a] > h[b * cols + b]; });
  }
  std::vector<float> hp(cols * cols);
  double mean = 0;
  for (int64_t j = 0; j < cols; ++j) mean += h[j * cols + j];
  mean /= cols;
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) hp[i * cols + j] = h[perm[i] * cols + perm[j]];
    hp[i * cols + i] += float(damp * mean);
  }
  EXPECT_TRUE(InverseCholeskyUpper(hp.data(), cols).ok());
  for (int64_t r = 0; r < rows; ++r) {
    const GroupQuant g = GptqGroupQuant(w.data() + r * cols, cols, bits, false);
    std::vector<double> wr(cols);
    for (int64_t k = 0; k < cols; ++k) wr[k] = w[r * cols + perm[k]];
    for (int64_t k = 0; k < cols; ++k) {
      const float q = DequantizeCode(QuantizeToCode(float(wr[k]), g, MaxCode(bits)), g);
      out[r * cols + perm[k]] = q;
      const double e = (wr[k] - q) / hp[k * cols + k];
      for (int64_t j = k + 1; j < cols; ++j) wr[j] -= e * hp[k * cols + j];
    }
  }
  return out;
}

TEST_F(GptqTest, LazyBatchesMatchTheEagerColumnLoop) {
  ThreadPool pool(2);
  const int64_t rows = 50, cols = 96;
  std::vector<float> x = CorrelatedInputs(400, cols, 6);
  std::vector<float> w = Gaussian(rows * cols, 7, 0.05f);
  std::vector<float> h = HessianOf(x, cols, 4, pool);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.bits = 4, o.group = -1, o.act_order = act_order, o.block = 20;
    auto res = GptqQuantize("test", w.data(), rows, cols, h, o, pool);
    ASSERT_TRUE(res.ok()) << res.message();
    std::vector<float> eager = EagerGptqPerRow(w, rows, cols, h, 4, act_order, 0.01f);
    // fp32 lazy vs double eager: a rounding flip changes one code by one step
    // and the rest of its row a little; allow a few.
    int64_t differ = 0;
    for (int64_t i = 0; i < rows * cols; ++i) differ += res->dequantized[i] != eager[i];
    EXPECT_LE(differ, rows * cols / 100) << "act_order " << act_order;
    const double a = OutputError(x, w, res->dequantized, rows, cols), b = OutputError(x, w, eager, rows, cols);
    EXPECT_NEAR(a, b, 0.02 * b);
  }
}

TEST_F(GptqTest, ActOrderStoresTheOriginalColumnGroups) {
  ThreadPool pool(2);
  const int64_t rows = 24, cols = 100, group = 32;  // groups 32, 32, 32, 4
  std::vector<float> x = CorrelatedInputs(300, cols, 8);
  std::vector<float> w = Gaussian(rows * cols, 9, 0.05f);
  std::vector<float> h = HessianOf(x, cols, 2, pool);
  GptqOptions o;
  o.bits = 3, o.group = group, o.act_order = true, o.block = 16;
  auto res = GptqQuantize("test", w.data(), rows, cols, h, o, pool);
  ASSERT_TRUE(res.ok()) << res.message();
  ASSERT_EQ(res->n_groups, 4);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < 4; ++g) {
      const int64_t c0 = g * group, len = std::min(group, cols - c0);
      const GroupQuant expected = GptqGroupQuant(w.data() + r * cols + c0, len, 3, false);
      const GroupQuant got = res->params[r * 4 + g];
      EXPECT_EQ(got.scale, expected.scale);
      EXPECT_EQ(got.zero, expected.zero);
      for (int64_t c = c0; c < c0 + len; ++c) {
        EXPECT_EQ(res->dequantized[r * cols + c], DequantizeCode(res->codes[r * cols + c], got));
      }
    }
  }
  // The order did change something: not plain round-to-nearest.
  EXPECT_NE(res->dequantized, Rtn(w, rows, cols, 3, group, false));
}

TEST_F(GptqTest, GroupParametersFollowTheUpdatedWeights) {
  ThreadPool pool(1);
  const int64_t rows = 16, cols = 96, group = 32;
  std::vector<float> x = CorrelatedInputs(300, cols, 10);
  std::vector<float> w = Gaussian(rows * cols, 11, 0.05f);
  std::vector<float> h = HessianOf(x, cols, 2, pool);
  GptqOptions o;
  o.bits = 4, o.group = group, o.block = 32;
  auto res = GptqQuantize("test", w.data(), rows, cols, h, o, pool);
  ASSERT_TRUE(res.ok()) << res.message();
  int64_t same_as_original = 0;
  for (int64_t r = 0; r < rows; ++r) {
    // The first group sees the original weights; later ones the updated ones.
    const GroupQuant first = GptqGroupQuant(w.data() + r * cols, group, 4, false);
    EXPECT_EQ(res->params[r * 3].scale, first.scale);
    for (int64_t g = 1; g < 3; ++g) {
      same_as_original += res->params[r * 3 + g].scale == GptqGroupQuant(w.data() + r * cols + g * group, group, 4, false).scale;
    }
    for (int64_t c = 0; c < cols; ++c) {
      EXPECT_EQ(res->dequantized[r * cols + c], DequantizeCode(res->codes[r * cols + c], res->params[r * 3 + c / group]));
    }
  }
  EXPECT_LT(same_as_original, rows);
}

TEST_F(GptqTest, DeadColumnsAreZeroedAfterPerRowParameters) {
  ThreadPool pool(2);
  const int64_t rows = 20, cols = 48;
  std::vector<float> x = CorrelatedInputs(200, cols, 12);
  for (int64_t t = 0; t < 200; ++t) x[t * cols + 7] = x[t * cols + 30] = 0.0f;  // never active
  std::vector<float> w = Gaussian(rows * cols, 13, 0.05f);
  for (int64_t r = 0; r < rows; ++r) w[r * cols + 7] = 0.5f;  // each row's max sits in a dead column
  std::vector<float> h = HessianOf(x, cols, 2, pool);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.bits = 4, o.group = -1, o.act_order = act_order, o.block = 16;
    auto res = GptqQuantize("test", w.data(), rows, cols, h, o, pool);
    ASSERT_TRUE(res.ok()) << res.message();
    EXPECT_EQ(res->dead_columns, 2);
    for (int64_t r = 0; r < rows; ++r) {
      const GroupQuant g = GptqGroupQuant(w.data() + r * cols, cols, 4, false);  // with the 0.5
      EXPECT_EQ(res->params[r].scale, g.scale);
      EXPECT_EQ(res->params[r].zero, g.zero);
      EXPECT_EQ(res->dequantized[r * cols + 7], 0.0f);
      EXPECT_EQ(res->dequantized[r * cols + 30], 0.0f);
    }
  }
  // With groups, the group holding the dead column gets its parameters from
  // the zeroed weights: the 0.5 no longer widens the range.
  GptqOptions o;
  o.bits = 4, o.group = 16, o.block = 16;
  auto res = GptqQuantize("test", w.data(), rows, cols, h, o, pool);
  ASSERT_TRUE(res.ok()) << res.message();
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> g0(w.begin() + r * cols, w.begin() + r * cols + 16);
    g0[7] = 0.0f;
    EXPECT_EQ(res->params[r * 3].scale, GptqGroupQuant(g0.data(), 16, 4, false).scale);
  }
}

TEST_F(GptqTest, ThreadCountDoesNotChangeTheResult) {
  const int64_t rows = 100, cols = 150;  // neither a multiple of the row chunk nor of the block
  std::vector<float> x = CorrelatedInputs(300, cols, 14);
  std::vector<float> w = Gaussian(rows * cols, 15, 0.05f);
  ThreadPool pool1(1), pool2(2);
  std::vector<float> h = HessianOf(x, cols, 3, pool1);
  for (bool act_order : {false, true}) {
    GptqOptions o;
    o.bits = 4, o.group = 64, o.act_order = act_order, o.block = 64;
    auto a = GptqQuantize("test", w.data(), rows, cols, h, o, pool1);
    auto b = GptqQuantize("test", w.data(), rows, cols, h, o, pool2);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->codes, b->codes);
    EXPECT_EQ(a->dequantized, b->dequantized);
    EXPECT_EQ(a->layer_error, b->layer_error);
  }
}

TEST_F(GptqTest, BadInputIsAnError) {
  ThreadPool pool(1);
  std::vector<float> w = Gaussian(4 * 8, 16), h(64, 0.0f);
  for (int j = 0; j < 8; ++j) h[j * 8 + j] = 1.0f;
  auto run = [&](GptqOptions o, std::vector<float> hh) {
    auto r = GptqQuantize("h.0.attn.c_attn", w.data(), 4, 8, std::move(hh), o, pool);
    return r.ok() ? std::string() : r.message();
  };
  GptqOptions o;
  EXPECT_EQ(run(o, h), "");
  o.bits = 5;
  EXPECT_NE(run(o, h).find("bits"), std::string::npos);
  o = GptqOptions();
  o.group = 0;
  EXPECT_NE(run(o, h).find("group"), std::string::npos);
  o = GptqOptions();
  o.block = 0;
  EXPECT_NE(run(o, h).find("block"), std::string::npos);
  o = GptqOptions();
  o.damp = -1;
  EXPECT_NE(run(o, h).find("damp"), std::string::npos);
  o = GptqOptions();
  EXPECT_NE(run(o, std::vector<float>(63, 1.0f)).find("Hessian of 8x8"), std::string::npos);
  std::vector<float> bad = h;
  bad[9] = NAN;
  EXPECT_NE(run(o, bad).find("not finite"), std::string::npos);
  bad = h;
  bad[0 * 8 + 1] = bad[1 * 8 + 0] = 3.0f;  // indefinite, damping 1% cannot fix it
  const std::string msg = run(o, bad);
  EXPECT_NE(msg.find("h.0.attn.c_attn"), std::string::npos) << msg;
  EXPECT_NE(msg.find("positive definite"), std::string::npos) << msg;
}

}  // namespace
}  // namespace gpt2q
