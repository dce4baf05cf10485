// fp16: IEEE binary16 storage, round to nearest even from fp32; values whose
// magnitude rounds to infinity (≥ 65520) are rejected like NaN/Inf.
// Layout: rows · cols uint16 halves, row-major [out_features, in_features];
// 2 bytes per weight, nothing else.
#include "formats/fp16_matrix.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/check.h"
#include "core/half.h"
#include "formats/stored_parts.h"
#include "kernels/blas.h"
#include "kernels/int8_dequant_gemm.h"

namespace gpt2q {

Fp16Matrix::Fp16Matrix(AlignedBuffer halves, int64_t rows, int64_t cols)
    : WeightMatrix(rows, cols), halves_(std::move(halves)) {
  GPT2Q_CHECK(static_cast<int64_t>(halves_.size()) >= rows * cols * 2);
  data_ = halves_.as<uint16_t>();
}

Fp16Matrix::Fp16Matrix(const uint16_t* halves, int64_t rows, int64_t cols,
                       std::shared_ptr<const void> owner)
    : WeightMatrix(rows, cols), data_(halves), owner_(std::move(owner)) {
  GPT2Q_CHECK(halves != nullptr);
}

void Fp16Matrix::DecodeRows(int64_t row0, int64_t count, float* out) const {
  const int64_t total = count * cols();
  const uint16_t* h = data() + row0 * cols();
  int64_t i = 0;
  for (; i + 8 <= total; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h + i))));
  }
  for (; i < total; ++i) out[i] = Fp16ToFloat(h[i]);
}

void Fp16Matrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  DecodeRows(row, 1, out);
}

namespace {

// y[t][j] for t < MT: one pass over row j's halves, 8 lanes per token; the
// lane sums are reduced in a fixed order (same result for any threading).
template <int MT>
void GemvRows(const uint16_t* w, int64_t cols, const float* x, int64_t row0, int64_t row1,
              float* y, int64_t ldy) {
  for (int64_t j = row0; j < row1; ++j) {
    const uint16_t* wr = w + j * cols;
    __m256 acc[MT];
    for (int t = 0; t < MT; ++t) acc[t] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 <= cols; k += 8) {
      const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wr + k)));
      for (int t = 0; t < MT; ++t) acc[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + t * cols + k), acc[t]);
    }
    for (int t = 0; t < MT; ++t) {
      alignas(32) float lanes[8];
      _mm256_store_ps(lanes, acc[t]);
      float s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
      for (int64_t kk = k; kk < cols; ++kk) s = std::fma(Fp16ToFloat(wr[kk]), x[t * cols + kk], s);
      y[t * ldy + j] = s;
    }
  }
}

}  // namespace

void Fp16Matrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  const int64_t rows = this->rows(), cols = this->cols();
  if (n <= kGemvTokens) {
    const int64_t chunk = OutputChunk(n, rows);
    pool.ParallelFor((rows + chunk - 1) / chunk, [&](int64_t c) {
      const int64_t r0 = c * chunk, r1 = std::min(rows, r0 + chunk);
      switch (n) {
        case 1: GemvRows<1>(data(), cols, x, r0, r1, y, rows); break;
        case 2: GemvRows<2>(data(), cols, x, r0, r1, y, rows); break;
        case 3: GemvRows<3>(data(), cols, x, r0, r1, y, rows); break;
        default: GemvRows<4>(data(), cols, x, r0, r1, y, rows); break;
      }
    });
    return;
  }
  DecodeTileMultiply(x, n, rows, cols, y, pool,
                     [this](int64_t row0, int64_t count, float* out) { DecodeRows(row0, count, out); });
}

namespace {

Result<std::unique_ptr<WeightMatrix>> QuantizeFp16(const float* w, int64_t rows, int64_t cols,
                                                   const FormatParams& params, ThreadPool* pool) {
  if (!params.empty()) {
    return Status::Error("fp16: unknown option '" + params.begin()->first + "'; fp16 has no options");
  }
  if (rows <= 0 || cols <= 0) return Status::Error("fp16: empty weight");
  const int64_t total = rows * cols;
  for (int64_t i = 0; i < total; ++i) {
    if (!(std::fabs(w[i]) < 65520.0f)) {
      return Status::Error("fp16: weight [" + std::to_string(rows) + ", " + std::to_string(cols) +
                           "] element (" + std::to_string(i / cols) + ", " + std::to_string(i % cols) +
                           ") is " + std::to_string(w[i]) +
                           "; expected a finite value below 65520 (fp16 range)");
    }
  }
  AlignedBuffer halves(static_cast<size_t>(total) * 2);
  uint16_t* h = halves.as<uint16_t>();
  if (pool != nullptr) {
    const int64_t chunk = 1 << 16;
    pool->ParallelFor((total + chunk - 1) / chunk, [&](int64_t c) {
      const int64_t i0 = c * chunk, i1 = std::min(total, i0 + chunk);
      int64_t i = i0;
      for (; i + 8 <= i1; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(w + i), _MM_FROUND_TO_NEAREST_INT));
      }
      for (; i < i1; ++i) h[i] = FloatToFp16(w[i]);
    });
  } else {
    for (int64_t i = 0; i < total; ++i) h[i] = FloatToFp16(w[i]);
  }
  return std::unique_ptr<WeightMatrix>(std::make_unique<Fp16Matrix>(std::move(halves), rows, cols));
}

}  // namespace

StoredMatrix Fp16Matrix::Store() const {
  StoredMatrix stored;
  stored.parts.push_back(MakePart("halves", "F16", {rows(), cols()}, data(), rows() * cols()));
  return stored;
}

namespace {

Result<std::unique_ptr<WeightMatrix>> LoadFp16(const StoredParts& parts, int64_t rows, int64_t cols,
                                               const FormatParams& params) {
  if (!params.empty()) return parts.Mismatch("fp16 params", "none", "'" + params.begin()->first + "'");
  GPT2Q_RETURN_IF_ERROR(parts.CheckOnly({"halves"}));
  GPT2Q_ASSIGN_OR_RETURN(const StoredPartView* halves, parts.Get("halves", "F16", {rows, cols}));
  return std::unique_ptr<WeightMatrix>(std::make_unique<Fp16Matrix>(CopyPart(*halves), rows, cols));
}

}  // namespace

const FormatTraits kFp16Format = {
    "fp16", "IEEE binary16 weights (round to nearest even), F16C kernels", 0, 0, {},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeFp16(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeFp16(w, rows, cols, params, nullptr);
    },
    LoadFp16,
    [](const WeightMatrix&) { return 16.0; },
    "int8_bench"};

}  // namespace gpt2q
