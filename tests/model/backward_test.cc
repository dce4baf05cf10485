// The backward kernels (linear, LayerNorm, tanh-GELU, causal attention)
// against central finite differences of double-precision forward passes, on
// small random inputs: relative error (‖analytic − numeric‖/‖numeric‖) under
// 1e-3 with fp32 kernels; SGEMM versions against their plain references; the
// chunked kernels give the same bits on 1 and 3 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "../backward_reference.h"
#include "../random_values.h"
#include "core/thread_pool.h"
#include "kernels/attention.h"
#include "kernels/attention_backward.h"
#include "kernels/blas.h"
#include "kernels/elementwise_backward.h"
#include "kernels/linear_backward.h"

namespace gpt2q {
namespace {

using testing::Doubles;
using testing::Gaussian;
using testing::ToDoubles;

constexpr double kMaxRelativeError = 1e-3;

class BackwardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { UseSingleThreadedBlas(); }
};

TEST_F(BackwardTest, LinearGradientsMatchFiniteDifferences) {
  ThreadPool pool(2);
  // Odd sizes; n spans more than one 128-row chunk, out more than one 64-row chunk.
  const int64_t n = 150, in = 19, out = 70;
  const auto x = Gaussian(n * in, 1), w = Gaussian(out * in, 2, 0.3f), bias = Gaussian(out, 3);
  const auto r = Gaussian(n * out, 4);  // dL/dy for L = Σ r·y
  std::vector<float> dx(n * in), dw(out * in), y(n * out), y_ref(n * out);
  LinearBackwardInput(r.data(), n, out, w.data(), in, dx.data(), pool);
  LinearBackwardWeight(r.data(), n, out, x.data(), in, dw.data(), pool);
  LinearForward(x.data(), n, in, w.data(), bias.data(), out, y.data(), pool);
  LinearForwardRef(x.data(), n, in, w.data(), bias.data(), out, y_ref.data());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], y_ref[i], 1e-5 * (1 + std::fabs(y_ref[i])));

  Doubles xd = ToDoubles(x), wd = ToDoubles(w), bd = ToDoubles(bias), rd = ToDoubles(r), yd(n * out);
  auto loss = [&] {
    testing::LinearD(xd.data(), n, in, wd.data(), bd.data(), out, yd.data());
    return testing::Dot(rd, yd);
  };
  EXPECT_LT(testing::RelativeError(dx, testing::NumericGradient(xd, loss)), kMaxRelativeError);
  EXPECT_LT(testing::RelativeError(dw, testing::NumericGradient(wd, loss)), kMaxRelativeError);

  // The SGEMM kernels against their plain references, and on another thread count.
  std::vector<float> dx_ref(dx.size()), dw_ref(dw.size()), dx3(dx.size()), dw3(dw.size());
  LinearBackwardInputRef(r.data(), n, out, w.data(), in, dx_ref.data());
  LinearBackwardWeightRef(r.data(), n, out, x.data(), in, dw_ref.data());
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], dx_ref[i], 1e-4 * (1 + std::fabs(dx_ref[i])));
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], dw_ref[i], 1e-4 * (1 + std::fabs(dw_ref[i])));
  ThreadPool three(3);
  LinearBackwardInput(r.data(), n, out, w.data(), in, dx3.data(), three);
  LinearBackwardWeight(r.data(), n, out, x.data(), in, dw3.data(), three);
  EXPECT_EQ(dx, dx3);
  EXPECT_EQ(dw, dw3);
}

TEST_F(BackwardTest, LayerNormInputGradientMatchesFiniteDifferences) {
  for (int64_t c : {1, 2, 7, 33}) {
    const int64_t n = 5;
    const float eps = 1e-5f;
    const auto x = Gaussian(n * c, 10 + c, 2.0f), g = Gaussian(c, 11), b = Gaussian(c, 12);
    const auto r = Gaussian(n * c, 13);
    // LayerNormBackward adds to dx: start from a known value and subtract it.
    std::vector<float> dx(n * c, 0.5f);
    LayerNormBackward(r.data(), x.data(), n, c, g.data(), eps, dx.data());
    for (float& v : dx) v -= 0.5f;
    Doubles xd = ToDoubles(x), gd = ToDoubles(g), bd = ToDoubles(b), rd = ToDoubles(r), yd(n * c);
    auto loss = [&] {
      testing::LayerNormD(xd.data(), n, c, gd.data(), bd.data(), eps, yd.data());
      return testing::Dot(rd, yd);
    };
    const Doubles numeric = testing::NumericGradient(xd, loss);
    if (c == 1) {  // a one-value row normalizes to β whatever x is: zero gradient
      for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], 0.0f, 1e-6f);
      continue;
    }
    EXPECT_LT(testing::RelativeError(dx, numeric), kMaxRelativeError) << "c " << c;
  }
}

TEST_F(BackwardTest, GeluGradientMatchesFiniteDifferences) {
  std::vector<float> h;
  for (float v = -8.0f; v <= 8.0f; v += 0.0371f) h.push_back(v);
  const int64_t n = static_cast<int64_t>(h.size());
  const auto r = Gaussian(n, 20);
  std::vector<float> dh(n);
  GeluTanhBackward(h.data(), r.data(), n, dh.data());
  Doubles numeric(n);
  for (int64_t i = 0; i < n; ++i) {
    const double e = 1e-6;
    numeric[i] = r[i] * (testing::GeluD(h[i] + e) - testing::GeluD(h[i] - e)) / (2 * e);
  }
  EXPECT_LT(testing::RelativeError(dh, numeric), kMaxRelativeError);
  // Pointwise too: every derivative, including the tails (0 and 1).
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(dh[i], numeric[i], 1e-4 * (1 + std::fabs(numeric[i]))) << h[i];
  std::vector<float> in_place = r;  // dh may alias dg
  GeluTanhBackward(h.data(), in_place.data(), n, in_place.data());
  EXPECT_EQ(in_place, dh);
}

TEST_F(BackwardTest, CausalAttentionGradientsMatchFiniteDifferences) {
  const int64_t T = 9, C = 12, H = 3, D = C / H;
  const auto qkv = Gaussian(T * 3 * C, 30);
  const auto r = Gaussian(T * C, 31);  // dL/d(out)
  std::vector<float> out(T * C), probs(H * T * T), dqkv(T * 3 * C);
  for (int64_t h = 0; h < H; ++h) {
    const float* base = qkv.data() + h * D;
    const AttentionTrainArgs a{base, base + C, base + 2 * C, 3 * C, T, D};
    CausalAttentionForwardTrain(a, probs.data() + h * T * T, out.data() + h * D, C);
    float* d = dqkv.data() + h * D;
    CausalAttentionBackward(a, probs.data() + h * T * T, r.data() + h * D, C, d, d + C, d + 2 * C, 3 * C);
  }
  // The forward against the inference kernel's double reference.
  std::vector<float> ref(T * C);
  for (int64_t h = 0; h < H; ++h) {
    AttentionArgs a;
    a.q = qkv.data() + h * D;
    a.q_stride = 3 * C;
    std::vector<float> k(T * D), v(T * D);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t d = 0; d < D; ++d) {
        k[t * D + d] = qkv[t * 3 * C + C + h * D + d];
        v[t * D + d] = qkv[t * 3 * C + 2 * C + h * D + d];
      }
    }
    a.k = k.data();
    a.v = v.data();
    a.out = ref.data() + h * D;
    a.out_stride = C;
    a.n_queries = T;
    a.first_query_pos = 0;
    a.head_dim = D;
    CausalAttentionRef(a);
  }
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-5 * (1 + std::fabs(ref[i])));
  // Probabilities above the diagonal are 0; each row sums to 1.
  for (int64_t t = 0; t < T; ++t) {
    double sum = 0;
    for (int64_t j = 0; j < T; ++j) {
      if (j > t) {
        EXPECT_EQ(probs[t * T + j], 0.0f);
      }
      sum += probs[t * T + j];
    }
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  Doubles qd = ToDoubles(qkv), rd = ToDoubles(r), od(T * C);
  auto loss = [&] {
    testing::AttentionD(qd.data(), 1, T, C, H, od.data());
    return testing::Dot(rd, od);
  };
  const Doubles numeric = testing::NumericGradient(qd, loss);
  EXPECT_LT(testing::RelativeError(dqkv, numeric), kMaxRelativeError);
  // q, k and v separately (each part's own scale).
  for (int part = 0; part < 3; ++part) {
    std::vector<float> a;
    Doubles b;
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t c = 0; c < C; ++c) {
        a.push_back(dqkv[t * 3 * C + part * C + c]);
        b.push_back(numeric[t * 3 * C + part * C + c]);
      }
    }
    EXPECT_LT(testing::RelativeError(a, b), kMaxRelativeError) << "part " << part;
  }
}

TEST_F(BackwardTest, AccumulateGradientAdds) {
  std::vector<float> dst = {1, 2, 3}, src = {0.5f, -2, 4};
  AccumulateGradient(dst.data(), src.data(), 3);
  EXPECT_EQ(dst, (std::vector<float>{1.5f, 0, 7}));
}

}  // namespace
}  // namespace gpt2q
