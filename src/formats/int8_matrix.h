// Int8Matrix: the WeightMatrix behind every int8 / int4 integer format
// (int8-tensor[-asym], int8-row[-asym], int8-group, llm-int8), and the shared
// quantization driver those formats' table rows call.
//
// Codes q are signed (8 bits: −128…127, 4 bits: −8…7), stored in the packed
// layout of kernels/int8_gemm.h as u = q + 128 (or q + 8), offset = 128 + z.
// Each (row, group) keeps the formula's own scale s, so that DequantizeRow
// reproduces the reference formula bit for bit:
//   kDivide   (absmax, zeropoint):  W' = (q − z) / s
//   kMultiply (zeroquant):          W' = q · s
//   kScb      (llm-int8, s = SCB):  W' = q · s / 127
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/format.h"
#include "formats/weight_matrix.h"
#include "kernels/int8_gemm.h"

namespace gpt2q {

enum class Int8Dequant { kDivide, kMultiply, kScb };

// Returns v unchanged, but as a rounded fp32 value the compiler may not fuse
// into a following add (torch rounds s·W before adding z).
inline float Unfused(float v) {
  asm("" : "+x"(v));
  return v;
}

// Returns max|v| and min/max of v[0, count).
float MaxAbs(const float* v, int64_t count);
void MinMax(const float* v, int64_t count, float* lo, float* hi);

// How a span of values becomes codes: q = clamp(nearbyint(v · mul + add), lo, hi)
// (kMulAdd; the product is rounded to fp32 before the add, never fused), or
// q = clamp(nearbyint(v / div), lo, hi) (kDiv).
enum class Int8Op { kMul, kMulAdd, kDiv };

struct Int8SpanParams {
  float op_scale = 1.0f;  // the multiplier (kMul, kMulAdd) or divisor (kDiv)
  float op_add = 0.0f;    // kMulAdd only: the zero-point z
  float s = 1.0f;         // the scale kept for dequantization
  float z = 0.0f;         // the zero-point kept for dequantization (kDivide)
};

struct Int8Spec {
  std::string format;
  int bits = 8;
  int64_t group = 0;  // input values per scale; 0 = one per row
  Int8Dequant dequant = Int8Dequant::kDivide;
  Int8Op op = Int8Op::kMul;
  int lo = -128, hi = 127;
  bool w8a8 = false;  // Multiply quantizes activations (W8A8) or dequantizes tiles
  // W8A8 only: > 0 = one static activation step for every token (int8-row's
  // act_delta, SmoothQuant act=static); 0 = per-token dynamic steps.
  float act_delta = 0.0f;
  // SmoothQuant's fake_quant arithmetic (int8-row's delta=1): the weight
  // step Δ is the scale kept (kMultiply) and per-token activations are
  // divided by Δ_t (Int8ActQuant::token_delta).
  bool delta_form = false;
  // Returns the parameters of values v[0, count) (one row or one group).
  std::function<Int8SpanParams(const float* v, int64_t count)> params;
};

class Int8Matrix : public WeightMatrix {
 public:
  Int8Matrix(const Int8Spec& spec, int64_t rows, int64_t cols);

  std::string format() const override { return format_; }
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  int64_t StoredBytes() const override;
  // Parts: "codes" (8 bits: I8 [rows, cols] signed q; 4 bits: U8
  // [rows, ceil(cols/2)], q + 8, first value in the high nibble), "scales" F32
  // [rows, n_groups] (the formula's s), "zero_points" F32 [rows] (kDivide
  // formats only). Params: w8a8, plus group and bits for group-wise formats,
  // plus act_delta when it is static.
  StoredMatrix Store() const override;
  // Fills every row from parts laid out as Store() writes them (codes,
  // scales, zero-points; kernel steps and offsets recomputed exactly as
  // QuantizeRow does). Errors name parts.where, the part, expected vs actual.
  Status Restore(const StoredParts& parts);

  // Writes rows [row0, row0 + count) dequantized into out [count, cols].
  void DequantizeRows(int64_t row0, int64_t count, float* out) const;
  // Returns the signed code of (row, k).
  int Code(int64_t row, int64_t k) const;
  float Scale(int64_t row, int64_t g) const { return s_[row * packed_.n_groups + g]; }
  float ZeroPoint(int64_t row) const { return z_[row]; }
  int64_t group() const { return packed_.group; }
  int64_t n_groups() const { return packed_.n_groups; }
  bool w8a8() const { return w8a8_; }
  float act_delta() const { return act_delta_; }
  bool delta_form() const { return delta_form_; }
  // Selects W8A8 (true) or weight-only (false) multiplication.
  void set_w8a8(bool on) { w8a8_ = on; }
  void set_isa(Int8Isa isa) { isa_ = isa; }
  const PackedInt8Weights& packed() const { return packed_; }

  // Quantizes row `row` (cols values) with the spec; vectorized if `simd`.
  void QuantizeRow(const Int8Spec& spec, int64_t row, const float* w, bool simd);

 private:
  // Returns the kernel step of scale s: the value of one code unit.
  float StepOf(float s) const;
  // Sets the kernel offset of `row` from its zero-point z_[row].
  void SetOffset(int64_t row);
  std::string format_;
  int bits_;
  Int8Dequant dequant_;
  bool w8a8_;
  float act_delta_;
  bool delta_form_;
  Int8Isa isa_;
  int64_t group_param_;  // spec.group: > 0 for group-wise formats
  PackedInt8Weights packed_;
  std::vector<float> s_;  // [rows][n_groups]
  std::vector<float> z_;  // [rows]
};

// Rebuilds a matrix of the integer format `format` (dequant rule `dequant`)
// from its stored parts and params (see Int8Matrix::Store); `grouped` formats
// take params group and bits.
Result<std::unique_ptr<WeightMatrix>> LoadInt8(std::string_view format, Int8Dequant dequant,
                                               bool grouped, const StoredParts& parts, int64_t rows,
                                               int64_t cols, const FormatParams& params);

// Returns an error naming the first NaN/Inf of w [rows, cols], or OK.
Status CheckFinite(std::string_view format, const float* w, int64_t rows, int64_t cols);

// Returns an error if params holds a key outside `keys`.
Status CheckParamKeys(std::string_view format, const FormatParams& params,
                      const std::vector<std::string_view>& keys);

// Returns params[key] or `fallback`; an error if it is not an integer in [lo, hi].
Result<int64_t> IntParam(std::string_view format, const FormatParams& params,
                         std::string_view key, int64_t fallback, int64_t lo, int64_t hi);

// Returns params' act_delta (0 when absent): an error unless it is a finite
// value > 0 that fp32 holds exactly and w8a8 is on.
Result<float> ActDeltaParam(std::string_view format, const FormatParams& params, bool w8a8);

// Quantizes every row of w [rows, cols] into m with `spec`: the fast path
// (pool != null: panels of 16 rows in parallel, AVX2) or the scalar reference.
void FillInt8(const Int8Spec& spec, const float* w, Int8Matrix* m, ThreadPool* pool);

// Quantizes w [rows, cols] with `spec`: the fast path (pool != null: rows in
// parallel, AVX2) or the scalar reference (pool == null). Same codes.
Result<std::unique_ptr<WeightMatrix>> QuantizeInt8(const Int8Spec& spec, const float* w,
                                                   int64_t rows, int64_t cols, ThreadPool* pool);

// The absmax and zeropoint quantizers, per tensor or per row (int8_tensor.cc);
// pool == null runs the scalar reference.
Result<std::unique_ptr<WeightMatrix>> QuantizeAbsmax(std::string_view name, const float* w,
                                                     int64_t rows, int64_t cols,
                                                     const FormatParams& params, bool per_row,
                                                     ThreadPool* pool);
Result<std::unique_ptr<WeightMatrix>> QuantizeZeropoint(std::string_view name, const float* w,
                                                        int64_t rows, int64_t cols,
                                                        const FormatParams& params, bool per_row,
                                                        ThreadPool* pool);

}  // namespace gpt2q
