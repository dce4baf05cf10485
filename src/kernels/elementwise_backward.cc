// Backward passes of LayerNorm, tanh-GELU and the residual add (scalar C++).
#include "kernels/elementwise_backward.h"

#include <cmath>

namespace gpt2q {

void LayerNormBackward(const float* dout, const float* x, int64_t n, int64_t c, const float* gamma, float eps,
                       float* dx) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * c;
    const float* dr = dout + r * c;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < c; ++i) mean += xr[i];
    mean /= static_cast<double>(c);
    for (int64_t i = 0; i < c; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    const double rstd = 1.0 / std::sqrt(var / static_cast<double>(c) + eps);
    // mean(g) and mean(g·x̂), g = dout·gamma.
    double g_mean = 0, gx_mean = 0;
    for (int64_t i = 0; i < c; ++i) {
      const double g = double(dr[i]) * gamma[i];
      g_mean += g;
      gx_mean += g * (xr[i] - mean) * rstd;
    }
    g_mean /= static_cast<double>(c);
    gx_mean /= static_cast<double>(c);
    for (int64_t i = 0; i < c; ++i) {
      const double xhat = (xr[i] - mean) * rstd;
      const double g = double(dr[i]) * gamma[i];
      dx[r * c + i] += static_cast<float>(rstd * (g - g_mean - xhat * gx_mean));
    }
  }
}

void GeluTanhBackward(const float* h, const float* dg, int64_t count, float* dh) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  constexpr float kCubic = 0.044715f;
  for (int64_t i = 0; i < count; ++i) {
    const float x = h[i];
    const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    const float t = std::tanh(u);
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    const float grad = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    dh[i] = dg[i] * grad;
  }
}

void AccumulateGradient(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
}

}  // namespace gpt2q
