// fp32 GEMV kernels: independent accumulators hide FMA latency so the loop
// runs at memory speed.
#include "kernels/gemv.h"

#include <immintrin.h>

#include "kernels/vec_math.h"

namespace gpt2q {

void GemvRows(const float* w, int64_t rows, int64_t cols, int64_t ld, const float* x, float* y) {
  int64_t o = 0;
  for (; o + 4 <= rows; o += 4) {
    const float* w0 = w + o * ld;
    const float* w1 = w0 + ld;
    const float* w2 = w1 + ld;
    const float* w3 = w2 + ld;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
      const __m256 xv = _mm256_loadu_ps(x + i);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xv, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + i), xv, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + i), xv, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + i), xv, a3);
    }
    float s0 = HorizontalSum(a0), s1 = HorizontalSum(a1), s2 = HorizontalSum(a2), s3 = HorizontalSum(a3);
    for (; i < cols; ++i) {
      s0 += w0[i] * x[i];
      s1 += w1[i] * x[i];
      s2 += w2[i] * x[i];
      s3 += w3[i] * x[i];
    }
    y[o] = s0;
    y[o + 1] = s1;
    y[o + 2] = s2;
    y[o + 3] = s3;
  }
  for (; o < rows; ++o) {
    const float* wr = w + o * ld;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(wr + i), _mm256_loadu_ps(x + i), acc);
    float s = HorizontalSum(acc);
    for (; i < cols; ++i) s += wr[i] * x[i];
    y[o] = s;
  }
}

void GemvRowsRef(const float* w, int64_t rows, int64_t cols, int64_t ld, const float* x, float* y) {
  for (int64_t o = 0; o < rows; ++o) {
    double s = 0;
    for (int64_t i = 0; i < cols; ++i) s += double(w[o * ld + i]) * x[i];
    y[o] = static_cast<float>(s);
  }
}

void GemvColumnsAccumulate(const float* w, int64_t in, int64_t width, int64_t ld, const float* x, float* y) {
  int64_t i = 0;
  // Four weight rows per pass over y: a quarter of the L1 traffic of one.
  for (; i + 4 <= in; i += 4) {
    const float* w0 = w + i * ld;
    const float* w1 = w0 + ld;
    const float* w2 = w1 + ld;
    const float* w3 = w2 + ld;
    const __m256 x0 = _mm256_set1_ps(x[i]), x1 = _mm256_set1_ps(x[i + 1]), x2 = _mm256_set1_ps(x[i + 2]),
                 x3 = _mm256_set1_ps(x[i + 3]);
    int64_t o = 0;
    for (; o + 8 <= width; o += 8) {
      __m256 acc = _mm256_loadu_ps(y + o);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + o), x0, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + o), x1, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + o), x2, acc);
      acc = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + o), x3, acc);
      _mm256_storeu_ps(y + o, acc);
    }
    for (; o < width; ++o) y[o] += w0[o] * x[i] + w1[o] * x[i + 1] + w2[o] * x[i + 2] + w3[o] * x[i + 3];
  }
  for (; i < in; ++i) {
    const float* wr = w + i * ld;
    for (int64_t o = 0; o < width; ++o) y[o] += wr[o] * x[i];
  }
}

void GemvColumnsAccumulateRef(const float* w, int64_t in, int64_t width, int64_t ld, const float* x, float* y) {
  for (int64_t o = 0; o < width; ++o) {
    double s = y[o];
    for (int64_t i = 0; i < in; ++i) s += double(w[i * ld + o]) * x[i];
    y[o] = static_cast<float>(s);
  }
}

}  // namespace gpt2q
