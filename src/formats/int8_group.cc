// int8-group: DeepSpeed ZeroQuant group-wise symmetric weights (the
// "zeroquant" method), 8 or 4 bits, multiplied W8A8 with token-wise dynamic
// int8 activations by default.
//
// Formula, per group g of `group` contiguous input values of a row:
//   scale = 2·max|W_g| / 2^bits, q = clamp(round(W / scale), −2^(bits−1), 2^(bits−1) − 1)
//   (q = 0 where scale = 0), W' = q · scale.
// Layout: the packed panels of kernels/int8_gemm.h with group = `group`
// (u = q + 128 bytes, or u = q + 8 nibbles, two per byte), one fp32 scale per
// (row, group) kept twice: the formula's and the kernel's step (identical
// here), and an int32 offset per row. Options: group (default 64, a multiple
// of 8), bits (8 or 4), w8a8 (default 1; 0 = weight-only).
#include <string>

#include "formats/int8_formats.h"
#include "formats/int8_matrix.h"

namespace gpt2q {
namespace {

Result<std::unique_ptr<WeightMatrix>> QuantizeGroup(const float* w, int64_t rows, int64_t cols,
                                                    const FormatParams& params, ThreadPool* pool) {
  constexpr std::string_view kName = "int8-group";
  GPT2Q_RETURN_IF_ERROR(CheckParamKeys(kName, params, {"group", "bits", "w8a8"}));
  GPT2Q_ASSIGN_OR_RETURN(int64_t group, IntParam(kName, params, "group", 64, 8, 1 << 20));
  GPT2Q_ASSIGN_OR_RETURN(int64_t bits, IntParam(kName, params, "bits", 8, 4, 8));
  GPT2Q_ASSIGN_OR_RETURN(int64_t w8a8, IntParam(kName, params, "w8a8", 1, 0, 1));
  if (group % 8 != 0) {
    return Status::Error("int8-group: option group=" + std::to_string(group) +
                         "; expected a multiple of 8");
  }
  if (bits != 8 && bits != 4) {
    return Status::Error("int8-group: option bits=" + std::to_string(bits) + "; expected 8 or 4");
  }
  Int8Spec spec;
  spec.format = std::string(kName);
  spec.bits = static_cast<int>(bits);
  spec.group = group;
  spec.op = Int8Op::kDiv;
  spec.dequant = Int8Dequant::kMultiply;
  spec.lo = -(1 << (bits - 1));
  spec.hi = (1 << (bits - 1)) - 1;
  spec.w8a8 = w8a8 != 0;
  const float levels = static_cast<float>(1 << bits);
  spec.params = [levels](const float* v, int64_t count) {
    Int8SpanParams p;
    p.s = 2.0f * MaxAbs(v, count) / levels;
    p.op_scale = p.s > 0.0f ? p.s : 1.0f;  // all-zero group: q = 0 / 1 = 0
    return p;
  };
  return QuantizeInt8(spec, w, rows, cols, pool);
}

}  // namespace

const FormatTraits kInt8GroupFormat = {
    "int8-group",
    "ZeroQuant group-wise symmetric int8/int4 (scale = 2*max|W_g|/2^bits), W8A8; "
    "options group, bits, w8a8",
    64, 64 + 4, {"group", "bits", "w8a8"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeGroup(w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeGroup(w, rows, cols, params, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadInt8("int8-group", Int8Dequant::kMultiply, true, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 8.0; },
    "int8_bench"};

}  // namespace gpt2q
