// Int8Matrix: packing, exact dequantization, W8A8 / weight-only multiply and
// the shared quantization driver of the integer formats.
#include "formats/int8_matrix.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/check.h"
#include "kernels/int8_dequant_gemm.h"
#include "kernels/int8_gemv.h"

namespace gpt2q {
namespace {

// Keeps the compiler from fusing the rounded product into a following add
// (torch computes s·W + z as two roundings).
inline float Rounded(float v) { return Unfused(v); }
inline __m256 Rounded(__m256 v) {
  asm("" : "+x"(v));
  return v;
}

inline int CodeOf(float v, Int8Op op, const Int8SpanParams& p, int lo, int hi) {
  float t;
  switch (op) {
    case Int8Op::kMul: t = v * p.op_scale; break;
    case Int8Op::kMulAdd: t = Rounded(v * p.op_scale) + p.op_add; break;
    default: t = v / p.op_scale; break;
  }
  const float r = std::nearbyint(t);
  return static_cast<int>(std::clamp(r, static_cast<float>(lo), static_cast<float>(hi)));
}

// AVX2 version of CodeOf over count values (count % 8 tail done by CodeOf).
void CodesSimd(const float* v, int64_t count, Int8Op op, const Int8SpanParams& p, int lo, int hi,
               int* q) {
  const __m256 mul = _mm256_set1_ps(p.op_scale), add = _mm256_set1_ps(p.op_add);
  const __m256 vlo = _mm256_set1_ps(static_cast<float>(lo));
  const __m256 vhi = _mm256_set1_ps(static_cast<float>(hi));
  int64_t k = 0;
  for (; k + 8 <= count; k += 8) {
    __m256 x = _mm256_loadu_ps(v + k), t;
    switch (op) {
      case Int8Op::kMul: t = _mm256_mul_ps(x, mul); break;
      case Int8Op::kMulAdd: t = _mm256_add_ps(Rounded(_mm256_mul_ps(x, mul)), add); break;
      default: t = _mm256_div_ps(x, mul); break;
    }
    t = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    t = _mm256_min_ps(_mm256_max_ps(t, vlo), vhi);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k), _mm256_cvtps_epi32(t));
  }
  for (; k < count; ++k) q[k] = CodeOf(v[k], op, p, lo, hi);
}

}  // namespace

Int8Matrix::Int8Matrix(const Int8Spec& spec, int64_t rows, int64_t cols)
    : WeightMatrix(rows, cols),
      format_(spec.format),
      bits_(spec.bits),
      dequant_(spec.dequant),
      w8a8_(spec.w8a8),
      act_delta_(spec.act_delta),
      delta_form_(spec.delta_form),
      isa_(BestInt8Isa()),
      group_param_(spec.group) {
  const int32_t zero_code = bits_ == 8 ? 128 : 8;
  packed_.Allocate(rows, cols, spec.group, bits_, zero_code);
  s_.assign(static_cast<size_t>(rows * packed_.n_groups), 0.0f);
  z_.assign(static_cast<size_t>(rows), 0.0f);
}

void Int8Matrix::QuantizeRow(const Int8Spec& spec, int64_t row, const float* w, bool simd) {
  const int64_t cols = this->cols(), group = packed_.group;
  const int32_t zero_code = bits_ == 8 ? 128 : 8;
  std::vector<int> q(static_cast<size_t>(group));
  for (int64_t g = 0; g < packed_.n_groups; ++g) {
    const int64_t k0 = g * group, count = std::min(group, cols - k0);
    const Int8SpanParams p = spec.params(w + k0, count);
    if (simd) {
      CodesSimd(w + k0, count, spec.op, p, spec.lo, spec.hi, q.data());
    } else {
      for (int64_t k = 0; k < count; ++k) q[k] = CodeOf(w[k0 + k], spec.op, p, spec.lo, spec.hi);
    }
    for (int64_t k = 0; k < count; ++k) packed_.SetCode(row, k0 + k, static_cast<uint8_t>(q[k] + zero_code));
    s_[row * packed_.n_groups + g] = p.s;
    z_[row] = p.z;  // one zero-point per row: only per-row/tensor formats have one
    packed_.Step(row, g) = StepOf(p.s);
  }
  SetOffset(row);
}

float Int8Matrix::StepOf(float s) const {
  switch (dequant_) {
    case Int8Dequant::kDivide: return s != 0.0f ? 1.0f / s : 0.0f;
    case Int8Dequant::kMultiply: return s;
    default: return s / 127.0f;
  }
}

void Int8Matrix::SetOffset(int64_t row) {
  const int32_t zero_code = bits_ == 8 ? 128 : 8;
  // The kernel's offset is an int32; a zero-point beyond ±2^30 only occurs for
  // a row whose range is a few ulps wide, where every code is clipped anyway.
  // A non-finite zero-point (only from a corrupt checkpoint part, which the
  // loader rejects before this) must not reach the int cast: that is UB.
  const float z = std::isfinite(z_[row]) ? std::clamp(z_[row], -1073741824.0f, 1073741824.0f) : 0.0f;
  packed_.Offset(row) = zero_code + static_cast<int32_t>(z);
}

int Int8Matrix::Code(int64_t row, int64_t k) const {
  return static_cast<int>(packed_.Code(row, k)) - (bits_ == 8 ? 128 : 8);
}

void Int8Matrix::DequantizeRows(int64_t row0, int64_t count, float* out) const {
  const int64_t cols = this->cols(), group = packed_.group;
  const int zero_code = bits_ == 8 ? 128 : 8;
  const uint8_t* codes = packed_.codes.data();
  for (int64_t j = row0; j < row0 + count; ++j) {
    float* o = out + (j - row0) * cols;
    const int64_t p = j / 16, r = j % 16;
    for (int64_t g = 0; g < packed_.n_groups; ++g) {
      const float s = s_[j * packed_.n_groups + g], z = z_[j];
      const int64_t k0 = g * group, k1 = std::min(cols, k0 + group);
      const uint8_t* base = codes + (p * packed_.n_groups + g) * group * (bits_ == 8 ? 16 : 8) + 4 * r;
      for (int64_t k = k0; k < k1; ++k) {
        const int64_t kk = k - k0;
        int q;
        if (bits_ == 8) {
          q = base[(kk / 4) * 64 + kk % 4] - zero_code;
        } else {
          q = ((base[(kk / 8) * 64 + kk % 4] >> (((kk / 4) % 2) * 4)) & 0x0f) - zero_code;
        }
        const float qf = static_cast<float>(q);
        switch (dequant_) {
          case Int8Dequant::kDivide: o[k] = (qf - z) / s; break;
          case Int8Dequant::kMultiply: o[k] = qf * s; break;
          default: o[k] = qf * s / 127.0f; break;
        }
      }
    }
  }
}

void Int8Matrix::DequantizeRow(int64_t row, float* out) const {
  GPT2Q_CHECK(row >= 0 && row < rows());
  DequantizeRows(row, 1, out);
}

int64_t Int8Matrix::StoredBytes() const {
  // Codes and kernel steps/offsets as packed (panel padding included), plus
  // the formula scales (and zero-points) kept for exact dequantization.
  int64_t bytes = packed_.Bytes() + static_cast<int64_t>(s_.size()) * 4;
  if (dequant_ == Int8Dequant::kDivide) bytes += static_cast<int64_t>(z_.size()) * 4;
  return bytes;
}

void Int8Matrix::Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const {
  if (w8a8_) {
    Int8Multiply(x, n, y, packed_, pool, isa_, {act_delta_, delta_form_});
    return;
  }
  if (n <= kInt8GemvMaxTokens) {  // decode: stream the codes, never expand them
    Int8WeightOnlyGemv(x, n, y, packed_, pool, isa_);
    return;
  }
  DecodeTileMultiply(x, n, rows(), cols(), y, pool,
                     [this](int64_t row0, int64_t count, float* out) { DequantizeRows(row0, count, out); });
}

float MaxAbs(const float* v, int64_t count) {
  float m = 0.0f;
  for (int64_t k = 0; k < count; ++k) m = std::max(m, std::fabs(v[k]));
  return m;
}

void MinMax(const float* v, int64_t count, float* lo, float* hi) {
  float a = v[0], b = v[0];
  for (int64_t k = 1; k < count; ++k) {
    a = std::min(a, v[k]);
    b = std::max(b, v[k]);
  }
  *lo = a;
  *hi = b;
}

Status CheckFinite(std::string_view format, const float* w, int64_t rows, int64_t cols) {
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w[i])) {
      return Status::Error(std::string(format) + ": weight [" + std::to_string(rows) + ", " +
                           std::to_string(cols) + "] element (" + std::to_string(i / cols) +
                           ", " + std::to_string(i % cols) + ") is " +
                           (std::isnan(w[i]) ? "NaN" : "Inf") + "; expected a finite value");
    }
  }
  return OkStatus();
}

Status CheckParamKeys(std::string_view format, const FormatParams& params,
                      const std::vector<std::string_view>& keys) {
  for (const auto& [key, value] : params) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string valid;
      for (std::string_view k : keys) valid += (valid.empty() ? "" : ", ") + std::string(k);
      return Status::Error(std::string(format) + ": unknown option '" + key +
                           "'; valid options: " + (valid.empty() ? "(none)" : valid));
    }
  }
  return OkStatus();
}

Result<int64_t> IntParam(std::string_view format, const FormatParams& params,
                         std::string_view key, int64_t fallback, int64_t lo, int64_t hi) {
  auto it = params.find(std::string(key));
  if (it == params.end()) return fallback;
  const double v = it->second;
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || v != std::floor(v)) {
    return Status::Error(std::string(format) + ": option " + std::string(key) + "=" +
                         std::to_string(v) + "; expected an integer in [" + std::to_string(lo) +
                         ", " + std::to_string(hi) + "]");
  }
  return static_cast<int64_t>(v);
}

Result<float> ActDeltaParam(std::string_view format, const FormatParams& params, bool w8a8) {
  auto it = params.find("act_delta");
  if (it == params.end()) return 0.0f;
  const double v = it->second;
  const float f = static_cast<float>(v);
  if (!(v > 0) || !std::isfinite(f) || static_cast<double>(f) != v) {
    return Status::Error(std::string(format) + ": option act_delta=" + std::to_string(v) +
                         "; expected a positive fp32 value (the static activation step)");
  }
  if (!w8a8) {
    return Status::Error(std::string(format) + ": option act_delta needs w8a8=1 (int8 activations), got w8a8=0");
  }
  return f;
}

Result<std::unique_ptr<WeightMatrix>> QuantizeInt8(const Int8Spec& spec, const float* w,
                                                   int64_t rows, int64_t cols, ThreadPool* pool) {
  if (rows <= 0 || cols <= 0) {
    return Status::Error(spec.format + ": shape [" + std::to_string(rows) + ", " +
                         std::to_string(cols) + "]; expected positive dimensions");
  }
  GPT2Q_RETURN_IF_ERROR(CheckFinite(spec.format, w, rows, cols));
  auto m = std::make_unique<Int8Matrix>(spec, rows, cols);
  FillInt8(spec, w, m.get(), pool);
  return std::unique_ptr<WeightMatrix>(std::move(m));
}

void FillInt8(const Int8Spec& spec, const float* w, Int8Matrix* m, ThreadPool* pool) {
  const int64_t rows = m->rows(), cols = m->cols();
  if (pool != nullptr) {
    // Panels of 16 rows per task: each code byte belongs to one row anyway.
    const int64_t n_tasks = (rows + 15) / 16;
    pool->ParallelFor(n_tasks, [&](int64_t t) {
      for (int64_t j = t * 16; j < std::min(rows, t * 16 + 16); ++j) {
        m->QuantizeRow(spec, j, w + j * cols, true);
      }
    });
  } else {
    for (int64_t j = 0; j < rows; ++j) m->QuantizeRow(spec, j, w + j * cols, false);
  }
}

}  // namespace gpt2q
