// Row-wise kernels with AVX2 bodies and scalar tails; references in plain C++.
#include "kernels/elementwise.h"

#include <immintrin.h>

#include <cmath>
#include <limits>

#include "kernels/vec_math.h"

namespace gpt2q {

void LayerNorm(const float* x, int64_t n, int64_t c, const float* gamma, const float* beta,
               float eps, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * c;
    float* yr = out + r * c;
    // Two passes (mean, then squared deviations): as accurate as torch's
    // Welford update for GPT-2's activations, and vectorises.
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= c; i += 8) acc = _mm256_add_ps(acc, _mm256_loadu_ps(xr + i));
    float sum = HorizontalSum(acc);
    for (; i < c; ++i) sum += xr[i];
    const float mean = sum / static_cast<float>(c);
    const __m256 vmean = _mm256_set1_ps(mean);
    acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= c; i += 8) {
      __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xr + i), vmean);
      acc = _mm256_fmadd_ps(d, d, acc);
    }
    float sq = HorizontalSum(acc);
    for (; i < c; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(c) + eps);
    const __m256 vrstd = _mm256_set1_ps(rstd);
    for (i = 0; i + 8 <= c; i += 8) {
      __m256 d = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(xr + i), vmean), vrstd);
      _mm256_storeu_ps(yr + i, _mm256_fmadd_ps(d, _mm256_loadu_ps(gamma + i), _mm256_loadu_ps(beta + i)));
    }
    for (; i < c; ++i) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
  }
}

void LayerNormRef(const float* x, int64_t n, int64_t c, const float* gamma, const float* beta,
                  float eps, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * c;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < c; ++i) mean += xr[i];
    mean /= static_cast<double>(c);
    for (int64_t i = 0; i < c; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(c);
    const double rstd = 1.0 / std::sqrt(var + eps);
    for (int64_t i = 0; i < c; ++i) {
      out[r * c + i] = static_cast<float>((xr[i] - mean) * rstd * gamma[i] + beta[i]);
    }
  }
}

namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kGeluCubic = 0.044715f;
}  // namespace

void GeluTanh(float* x, int64_t count) {
  const __m256 k0 = _mm256_set1_ps(kSqrt2OverPi);
  const __m256 k1 = _mm256_set1_ps(kGeluCubic);
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 half = _mm256_set1_ps(0.5f);
  const __m256 two = _mm256_set1_ps(2.0f);
  int64_t i = 0;
  for (; i + 8 <= count; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    __m256 u = _mm256_mul_ps(k0, _mm256_fmadd_ps(_mm256_mul_ps(k1, v), _mm256_mul_ps(v, v), v));
    // tanh(u) = 1 − 2/(exp(2u) + 1): exact limits ±1 for large |u|.
    __m256 e = Exp8(_mm256_mul_ps(two, u));
    __m256 t = _mm256_sub_ps(one, _mm256_div_ps(two, _mm256_add_ps(e, one)));
    _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
  }
  GeluTanhRef(x + i, count - i);
}

void GeluTanhRef(float* x, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + kGeluCubic * v * v * v)));
  }
}

void SoftmaxRow(float* x, int64_t count) {
  int64_t i = 0;
  __m256 vmax = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (; i + 8 <= count; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float max = HorizontalMax(vmax);
  for (; i < count; ++i) max = std::max(max, x[i]);
  const __m256 bmax = _mm256_set1_ps(max);
  __m256 acc = _mm256_setzero_ps();
  for (i = 0; i + 8 <= count; i += 8) {
    __m256 e = Exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), bmax));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = HorizontalSum(acc);
  for (; i < count; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  for (i = 0; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vinv));
  for (; i < count; ++i) x[i] *= inv;
}

void SoftmaxRowRef(float* x, int64_t count) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < count; ++i) max = std::max<double>(max, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < count; ++i) sum += std::exp(x[i] - max);
  for (int64_t i = 0; i < count; ++i) x[i] = static_cast<float>(std::exp(x[i] - max) / sum);
}

void AddBias(float* y, int64_t n, int64_t c, const float* bias) {
  for (int64_t r = 0; r < n; ++r) {
    float* yr = y + r * c;
    int64_t i = 0;
    for (; i + 8 <= c; i += 8) {
      _mm256_storeu_ps(yr + i, _mm256_add_ps(_mm256_loadu_ps(yr + i), _mm256_loadu_ps(bias + i)));
    }
    for (; i < c; ++i) yr[i] += bias[i];
  }
}

void AddResidual(float* x, const float* y, int64_t n, int64_t c, const float* bias) {
  for (int64_t r = 0; r < n; ++r) {
    float* xr = x + r * c;
    const float* yr = y + r * c;
    int64_t i = 0;
    for (; i + 8 <= c; i += 8) {
      __m256 s = _mm256_add_ps(_mm256_loadu_ps(yr + i), _mm256_loadu_ps(bias + i));
      _mm256_storeu_ps(xr + i, _mm256_add_ps(_mm256_loadu_ps(xr + i), s));
    }
    for (; i < c; ++i) xr[i] += yr[i] + bias[i];
  }
}

}  // namespace gpt2q
