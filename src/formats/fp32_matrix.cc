// Fp32Matrix: OpenBLAS SGEMM over fixed column chunks of the output.
#include "formats/fp32_matrix.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "core/check.h"
#include "formats/stored_parts.h"
#include "kernels/blas.h"

namespace gpt2q {
namespace {
// Below this many activation rows, matrix-vector products beat SGEMM.
constexpr int64_t kMinGemmRows = 4;
}  // namespace

Fp32Matrix::Fp32Matrix(const float* data, int64_t rows, int64_t cols, Fp32Layout layout,
                       std::shared_ptr<const void> owner)
    : WeightMatrix(rows, cols), data_(data), layout_(layout), owner_(std::move(owner)) {
  GPT2Q_CHECK(data != nullptr && rows > 0 && cols > 0);
}

void Fp32Matrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t out = rows(), in = cols();
  // The output columns are cut into chunks whose size depends on the shape
  // only, and each chunk is one single-threaded SGEMM: the same arithmetic for
  // any thread count.
  const int64_t chunk = OutputChunk(n, out);
  const int64_t n_chunks = (out + chunk - 1) / chunk;
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    const int64_t o0 = c * chunk;
    const int64_t width = std::min(chunk, out - o0);
    if (n < kMinGemmRows) {
      // Few rows (decode): matrix-vector products stream the weights once per
      // row; SGEMM would first pack (copy) the whole weight panel.
      for (int64_t r = 0; r < n; ++r) {
        if (layout_ == Fp32Layout::kInOut) {
          cblas_sgemv(CblasRowMajor, CblasTrans, in, width, 1.0f, data_ + o0, out, x + r * in, 1, 0.0f,
                      y + r * out + o0, 1);
        } else {
          cblas_sgemv(CblasRowMajor, CblasNoTrans, width, in, 1.0f, data_ + o0 * in, in, x + r * in, 1, 0.0f,
                      y + r * out + o0, 1);
        }
      }
    } else if (layout_ == Fp32Layout::kInOut) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, width, in, 1.0f, x, in,
                  data_ + o0, out, 0.0f, y + o0, out);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, width, in, 1.0f, x, in,
                  data_ + o0 * in, in, 0.0f, y + o0, out);
    }
  });
}

void Fp32Matrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  if (layout_ == Fp32Layout::kOutIn) {
    std::memcpy(out, data_ + row * cols(), cols() * sizeof(float));
  } else {
    for (int64_t i = 0; i < cols(); ++i) out[i] = data_[i * rows() + row];
  }
}

StoredMatrix Fp32Matrix::Store() const {
  StoredMatrix stored;
  const bool in_out = layout_ == Fp32Layout::kInOut;
  stored.params["in_out"] = in_out ? 1 : 0;
  std::vector<int64_t> shape = in_out ? std::vector<int64_t>{cols(), rows()}
                                      : std::vector<int64_t>{rows(), cols()};
  stored.parts.push_back(MakePart("values", "F32", std::move(shape), data_, rows() * cols()));
  return stored;
}

}  // namespace gpt2q
