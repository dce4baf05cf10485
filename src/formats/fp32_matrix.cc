// Fp32Matrix: OpenBLAS SGEMM over fixed column chunks of the output.
#include "formats/fp32_matrix.h"

#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "core/aligned_buffer.h"
#include "core/check.h"
#include "formats/stored_parts.h"
#include "kernels/blas.h"
#include "kernels/gemv.h"

namespace gpt2q {
namespace {
// Below this many activation rows, matrix-vector products beat SGEMM.
constexpr int64_t kMinGemmRows = 4;
// Input rows per decode task of a Conv1D weight (128 × 768 floats = 384 KiB).
constexpr int64_t kSliceRows = 128;
// Output values per task when the partial sums are added.
constexpr int64_t kSumChunk = 512;
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
  if (n < kMinGemmRows && layout_ == Fp32Layout::kInOut) {
    MultiplyConv1DFewRows(x, n, y, pool);
    return;
  }
  const int64_t chunk = OutputChunk(n, out);
  const int64_t n_chunks = (out + chunk - 1) / chunk;
  pool.ParallelFor(n_chunks, [&](int64_t c) {
    const int64_t o0 = c * chunk;
    const int64_t width = std::min(chunk, out - o0);
    if (n < kMinGemmRows) {
      // Few rows (decode) of an [out, in] weight: matrix-vector products stream
      // the weights once; SGEMM would first pack (copy) the whole panel.
      for (int64_t r = 0; r < n; ++r) GemvRows(data_ + o0 * in, width, in, in, x + r * in, y + r * out + o0);
    } else if (layout_ == Fp32Layout::kInOut) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, width, in, 1.0f, x, in,
                  data_ + o0, out, 0.0f, y + o0, out);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, width, in, 1.0f, x, in,
                  data_ + o0 * in, in, 0.0f, y + o0, out);
    }
  });
}

void Fp32Matrix::MultiplyConv1DFewRows(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t out = rows(), in = cols();
  // A Conv1D weight [in, out] is read as contiguous slices of whole rows (one
  // task each), every task summing into its own partial output; the partials
  // are then added in slice order. Streaming whole rows runs at memory speed,
  // where column strips of a row-major matrix do not.
  const int64_t slices = (in + kSliceRows - 1) / kSliceRows;
  AlignedBuffer partial(static_cast<size_t>(slices * out) * sizeof(float));
  float* parts = partial.as<float>();
  for (int64_t r = 0; r < n; ++r) {
    const float* xr = x + r * in;
    if (r > 0) std::memset(parts, 0, slices * out * sizeof(float));
    pool.ParallelFor(slices, [&](int64_t s) {
      const int64_t i0 = s * kSliceRows;
      GemvColumnsAccumulate(data_ + i0 * out, std::min(kSliceRows, in - i0), out, out, xr + i0, parts + s * out);
    });
    float* yr = y + r * out;
    const int64_t chunks = (out + kSumChunk - 1) / kSumChunk;
    pool.ParallelFor(chunks, [&](int64_t c) {
      const int64_t o0 = c * kSumChunk, o1 = std::min(out, o0 + kSumChunk);
      for (int64_t o = o0; o < o1; ++o) yr[o] = parts[o];
      for (int64_t s = 1; s < slices; ++s) {
        for (int64_t o = o0; o < o1; ++o) yr[o] += parts[s * out + o];
      }
    });
  }
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
