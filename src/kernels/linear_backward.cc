// Linear forward and backward for training: SGEMM over fixed chunks.
#include "kernels/linear_backward.h"

#include <cblas.h>

#include <algorithm>

namespace gpt2q {
namespace {

// Rows of x (forward, input gradient) or of dw (weight gradient) per task:
// fixed, so chunk boundaries, and with them every sum, never depend on the
// thread count; large enough that each SGEMM is efficient.
constexpr int64_t kRowsPerTask = 128;
constexpr int64_t kWeightRowsPerTask = 64;

}  // namespace

void LinearForward(const float* x, int64_t n, int64_t in, const float* w, const float* bias, int64_t out,
                   float* y, ThreadPool& pool) {
  pool.ParallelForChunks(n, kRowsPerTask, [&](int64_t r0, int64_t rows) {
    float* yc = y + r0 * out;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f, x + r0 * in, in, w, in, 0.0f,
                yc, out);
    if (bias != nullptr) {
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) yc[r * out + o] += bias[o];
      }
    }
  });
}

void LinearBackwardInput(const float* dy, int64_t n, int64_t out, const float* w, int64_t in, float* dx,
                         ThreadPool& pool) {
  pool.ParallelForChunks(n, kRowsPerTask, [&](int64_t r0, int64_t rows) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0f, dy + r0 * out, out, w, in,
                0.0f, dx + r0 * in, in);
  });
}

void LinearBackwardWeight(const float* dy, int64_t n, int64_t out, const float* x, int64_t in, float* dw,
                          ThreadPool& pool) {
  // dw[o0:o0+k, :] = dy[:, o0:o0+k]ᵀ · x: one task per chunk of output rows.
  pool.ParallelForChunks(out, kWeightRowsPerTask, [&](int64_t o0, int64_t k) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, in, n, 1.0f, dy + o0, out, x, in, 0.0f,
                dw + o0 * in, in);
  });
}

void LinearForwardRef(const float* x, int64_t n, int64_t in, const float* w, const float* bias, int64_t out,
                      float* y) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias != nullptr ? bias[o] : 0.0;
      for (int64_t i = 0; i < in; ++i) acc += double(x[r * in + i]) * w[o * in + i];
      y[r * out + o] = static_cast<float>(acc);
    }
  }
}

void LinearBackwardInputRef(const float* dy, int64_t n, int64_t out, const float* w, int64_t in, float* dx) {
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < in; ++i) {
      double acc = 0;
      for (int64_t o = 0; o < out; ++o) acc += double(dy[r * out + o]) * w[o * in + i];
      dx[r * in + i] = static_cast<float>(acc);
    }
  }
}

void LinearBackwardWeightRef(const float* dy, int64_t n, int64_t out, const float* x, int64_t in, float* dw) {
  for (int64_t o = 0; o < out; ++o) {
    for (int64_t i = 0; i < in; ++i) {
      double acc = 0;
      for (int64_t r = 0; r < n; ++r) acc += double(dy[r * out + o]) * x[r * in + i];
      dw[o * in + i] = static_cast<float>(acc);
    }
  }
}

}  // namespace gpt2q
