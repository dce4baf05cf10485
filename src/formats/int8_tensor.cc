// int8-tensor and int8-tensor-asym: one scale for the whole tensor.
//
// int8-tensor (the "absmax" method):  s = qmax / max|W| (s = 1 if max|W| = 0),
//   q = clamp(round(s·W), −qmax, qmax), W' = q / s. Option qmax (default 127;
//   the article's variant uses 100).
// int8-tensor-asym (the "zeropoint" method): s = levels / (max − min) (range 1
//   if 0), z = round(−s·min − 128), q = clip(round(s·W + z), −128, 127),
//   W' = (q − z) / s. Option levels (default 255; with fewer levels the codes
//   span −128 … levels − 128).
// round is round-half-to-even (torch.round); every product is rounded to fp32
// before an add. Layout: int8 codes in the packed panels of kernels/int8_gemm.h
// (u = q + 128), plus per row the scale s (and z) and the kernel's step/offset.
// Option w8a8=1 multiplies with per-token int8 activations (default 0:
// weight-only, tiles dequantized to fp32).
#include <cmath>

#include "formats/int8_formats.h"
#include "formats/int8_matrix.h"

namespace gpt2q {
namespace {

Result<Int8Spec> AbsmaxSpec(std::string_view name, const float* w, int64_t rows, int64_t cols,
                            const FormatParams& params, bool per_row) {
  if (per_row) {
    GPT2Q_RETURN_IF_ERROR(CheckParamKeys(name, params, {"qmax", "w8a8", "act_delta", "delta"}));
  } else {
    GPT2Q_RETURN_IF_ERROR(CheckParamKeys(name, params, {"qmax", "w8a8"}));
  }
  GPT2Q_ASSIGN_OR_RETURN(int64_t qmax, IntParam(name, params, "qmax", 127, 1, 127));
  GPT2Q_ASSIGN_OR_RETURN(int64_t w8a8, IntParam(name, params, "w8a8", 0, 0, 1));
  GPT2Q_ASSIGN_OR_RETURN(float act_delta, ActDeltaParam(name, params, w8a8 != 0));
  GPT2Q_ASSIGN_OR_RETURN(int64_t delta_form, IntParam(name, params, "delta", 0, 0, 1));
  GPT2Q_RETURN_IF_ERROR(CheckFinite(name, w, rows, cols));
  Int8Spec spec;
  spec.format = std::string(name);
  spec.op = Int8Op::kMul;
  spec.dequant = Int8Dequant::kDivide;
  spec.lo = -static_cast<int>(qmax);
  spec.hi = static_cast<int>(qmax);
  spec.w8a8 = w8a8 != 0;
  spec.act_delta = act_delta;
  const float fq = static_cast<float>(qmax);
  if (delta_form != 0) {
    // SmoothQuant's fake_quant: Δ = max(max|W_row|, 1e-5)/qmax, q = round(W/Δ), W' = q·Δ.
    spec.delta_form = true;
    spec.op = Int8Op::kDiv;
    spec.dequant = Int8Dequant::kMultiply;
    spec.params = [fq](const float* v, int64_t count) {
      Int8SpanParams p;
      p.s = std::max(MaxAbs(v, count), 1e-5f) / fq;
      p.op_scale = p.s;
      return p;
    };
    return spec;
  }
  auto params_of = [fq](float amax) {
    Int8SpanParams p;
    p.s = amax > 0.0f ? fq / amax : 1.0f;
    p.op_scale = p.s;
    return p;
  };
  if (per_row) {
    spec.params = [params_of](const float* v, int64_t count) { return params_of(MaxAbs(v, count)); };
  } else {
    const Int8SpanParams p = params_of(MaxAbs(w, rows * cols));
    spec.params = [p](const float*, int64_t) { return p; };
  }
  return spec;
}

Result<Int8Spec> ZeropointSpec(std::string_view name, const float* w, int64_t rows, int64_t cols,
                               const FormatParams& params, bool per_row) {
  GPT2Q_RETURN_IF_ERROR(CheckParamKeys(name, params, {"levels", "w8a8"}));
  GPT2Q_ASSIGN_OR_RETURN(int64_t levels, IntParam(name, params, "levels", 255, 1, 255));
  GPT2Q_ASSIGN_OR_RETURN(int64_t w8a8, IntParam(name, params, "w8a8", 0, 0, 1));
  GPT2Q_RETURN_IF_ERROR(CheckFinite(name, w, rows, cols));
  Int8Spec spec;
  spec.format = std::string(name);
  spec.op = Int8Op::kMulAdd;
  spec.dequant = Int8Dequant::kDivide;
  spec.w8a8 = w8a8 != 0;
  const float fl = static_cast<float>(levels);
  auto params_of = [fl](float lo, float hi) {
    float range = hi - lo;
    if (range == 0.0f) range = 1.0f;
    Int8SpanParams p;
    p.s = fl / range;
    p.z = std::nearbyint(Unfused(-p.s * lo) - 128.0f);
    p.op_scale = p.s;
    p.op_add = p.z;
    return p;
  };
  if (per_row) {
    spec.params = [params_of](const float* v, int64_t count) {
      float lo, hi;
      MinMax(v, count, &lo, &hi);
      return params_of(lo, hi);
    };
  } else {
    float lo, hi;
    MinMax(w, rows * cols, &lo, &hi);
    const Int8SpanParams p = params_of(lo, hi);
    spec.params = [p](const float*, int64_t) { return p; };
  }
  return spec;
}

}  // namespace

Result<std::unique_ptr<WeightMatrix>> QuantizeAbsmax(std::string_view name, const float* w,
                                                     int64_t rows, int64_t cols,
                                                     const FormatParams& params, bool per_row,
                                                     ThreadPool* pool) {
  if (rows <= 0 || cols <= 0) return Status::Error(std::string(name) + ": empty weight");
  GPT2Q_ASSIGN_OR_RETURN(Int8Spec spec, AbsmaxSpec(name, w, rows, cols, params, per_row));
  return QuantizeInt8(spec, w, rows, cols, pool);
}

Result<std::unique_ptr<WeightMatrix>> QuantizeZeropoint(std::string_view name, const float* w,
                                                        int64_t rows, int64_t cols,
                                                        const FormatParams& params, bool per_row,
                                                        ThreadPool* pool) {
  if (rows <= 0 || cols <= 0) return Status::Error(std::string(name) + ": empty weight");
  GPT2Q_ASSIGN_OR_RETURN(Int8Spec spec, ZeropointSpec(name, w, rows, cols, params, per_row));
  return QuantizeInt8(spec, w, rows, cols, pool);
}

const FormatTraits kInt8TensorFormat = {
    "int8-tensor",
    "int8, one symmetric scale per tensor (absmax): q = round(127/max|W| * W); options qmax, w8a8",
    0, 0, {"qmax", "w8a8"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeAbsmax("int8-tensor", w, rows, cols, params, false, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeAbsmax("int8-tensor", w, rows, cols, params, false, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadInt8("int8-tensor", Int8Dequant::kDivide, false, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 8.0; },
    ""};

const FormatTraits kInt8TensorAsymFormat = {
    "int8-tensor-asym",
    "int8, one scale and zero-point per tensor (zeropoint); options levels, w8a8",
    0, 0, {"levels", "w8a8"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeZeropoint("int8-tensor-asym", w, rows, cols, params, false, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeZeropoint("int8-tensor-asym", w, rows, cols, params, false, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadInt8("int8-tensor-asym", Int8Dequant::kDivide, false, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 8.0; },
    ""};

}  // namespace gpt2q
