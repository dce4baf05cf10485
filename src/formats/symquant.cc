// int8-symquant (the "symquant" method, DeepSpeed's symmetric 8-bit quantizer):
//   s = max|W| / 127.5 (s = 1 if max|W| = 0), q = clamp(round(W / s), −128, 127),
//   W' = q · s. One scale per tensor. Unlike absmax the scale divides, the code
//   range is the full [−128, 127], and dequantization multiplies.
// Layout: Int8Matrix's packed int8 panels (see int8_matrix.h) plus the scale.
// Option w8a8 as for the other int8 formats.
#include "formats/symquant.h"

#include "formats/int8_matrix.h"

namespace gpt2q {
namespace {

constexpr std::string_view kName = "int8-symquant";

Result<std::unique_ptr<WeightMatrix>> QuantizeSymquant(const float* w, int64_t rows, int64_t cols,
                                                       const FormatParams& params, ThreadPool* pool) {
  if (rows <= 0 || cols <= 0) return Status::Error(std::string(kName) + ": empty weight");
  GPT2Q_RETURN_IF_ERROR(CheckParamKeys(kName, params, {"w8a8"}));
  GPT2Q_ASSIGN_OR_RETURN(int64_t w8a8, IntParam(kName, params, "w8a8", 0, 0, 1));
  GPT2Q_RETURN_IF_ERROR(CheckFinite(kName, w, rows, cols));
  const float amax = MaxAbs(w, rows * cols);
  Int8SpanParams p;
  p.s = amax > 0.0f ? amax / 127.5f : 1.0f;
  p.op_scale = p.s;
  Int8Spec spec;
  spec.format = std::string(kName);
  spec.op = Int8Op::kDiv;
  spec.dequant = Int8Dequant::kMultiply;
  spec.lo = -128;
  spec.hi = 127;
  spec.w8a8 = w8a8 != 0;
  spec.params = [p](const float*, int64_t) { return p; };
  return QuantizeInt8(spec, w, rows, cols, pool);
}

}  // namespace

const FormatTraits kInt8SymquantFormat = {
    kName,
    "int8, DeepSpeed symmetric: s = max|W|/127.5, q = clamp(round(W/s), -128, 127); option w8a8",
    0, 0, {"w8a8"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeSymquant(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeSymquant(w, rows, cols, params, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadInt8(kName, Int8Dequant::kMultiply, false, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 8.0; },
    ""};

}  // namespace gpt2q
