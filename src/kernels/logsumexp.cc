// Log-sum-exp and KL divergence: AVX2 exp, float lanes flushed to double every
// 32 vectors (256 terms ≤ 1 each: no precision lost in float).
#include "kernels/logsumexp.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "kernels/vec_math.h"

namespace gpt2q {
namespace {
constexpr int64_t kFlushEvery = 256;  // terms summed in float before going to double

float MaxOf(const float* x, int64_t n) {
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
  float m = HorizontalMax(vmax);
  for (; i < n; ++i) m = std::max(m, x[i]);
  return m;
}
}  // namespace

double LogSumExp(const float* x, int64_t n) {
  const float max = MaxOf(x, n);
  const __m256 vmax = _mm256_set1_ps(max);
  double total = 0;
  int64_t i = 0;
  while (i + 8 <= n) {
    __m256 acc = _mm256_setzero_ps();
    const int64_t stop = std::min(n - n % 8, i + kFlushEvery);
    for (; i < stop; i += 8) acc = _mm256_add_ps(acc, Exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax)));
    total += HorizontalSum(acc);
  }
  for (; i < n; ++i) total += std::exp(double(x[i]) - max);
  return max + std::log(total);
}

double LogSumExpRef(const float* x, int64_t n) {
  double max = x[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, double(x[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(x[i]) - max);
  return max + std::log(sum);
}

double KlDivergence(const float* x, double lse_x, const float* y, double lse_y, int64_t n) {
  // KL = Σ p_i (x_i − y_i) − (lse_x − lse_y), p_i = exp(x_i − lse_x).
  const __m256 vlse = _mm256_set1_ps(static_cast<float>(lse_x));
  const float lse_residual = static_cast<float>(lse_x - double(static_cast<float>(lse_x)));
  const __m256 vres = _mm256_set1_ps(lse_residual);
  double total = 0;
  int64_t i = 0;
  while (i + 8 <= n) {
    __m256 acc = _mm256_setzero_ps();
    const int64_t stop = std::min(n - n % 8, i + kFlushEvery);
    for (; i < stop; i += 8) {
      __m256 xi = _mm256_loadu_ps(x + i);
      __m256 p = Exp8(_mm256_sub_ps(_mm256_sub_ps(xi, vlse), vres));
      acc = _mm256_fmadd_ps(p, _mm256_sub_ps(xi, _mm256_loadu_ps(y + i)), acc);
    }
    total += HorizontalSum(acc);
  }
  for (; i < n; ++i) total += std::exp(double(x[i]) - lse_x) * (double(x[i]) - double(y[i]));
  return std::max(0.0, total - (lse_x - lse_y));
}

double KlDivergenceRef(const float* x, const float* y, int64_t n) {
  const double lx = LogSumExpRef(x, n), ly = LogSumExpRef(y, n);
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double lp = double(x[i]) - lx, lq = double(y[i]) - ly;
    kl += std::exp(lp) * (lp - lq);
  }
  return kl;
}

}  // namespace gpt2q
