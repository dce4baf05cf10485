// int8-row and int8-row-asym: absmax / zeropoint with one scale (and
// zero-point) per output row (vector-wise; methods absmax-row, zeropoint-row).
//
// int8-row:      s_j = qmax / max_k|W_jk| (1 if 0), q = clamp(round(s_j·W), ±qmax), W' = q / s_j.
// int8-row-asym: s_j = levels / (max_j − min_j) (range 1 if 0),
//                z_j = round(−s_j·min_j − 128), q = clip(round(s_j·W + z_j), −128, 127),
//                W' = (q − z_j) / s_j.
// Layout as int8-tensor (int8_tensor.cc): packed int8 panels, per row s_j, z_j,
// the kernel step 1/s_j and offset 128 + z_j. Options qmax / levels, w8a8;
// int8-row also act_delta > 0 (with w8a8=1): static per-tensor activations,
// q_x = clamp(round(x / act_delta), −127, 127) (SmoothQuant act=static).
// block_size −1: one block per row, whatever cols is.
#include "formats/int8_formats.h"
#include "formats/int8_matrix.h"

namespace gpt2q {

const FormatTraits kInt8RowFormat = {
    "int8-row",
    "int8, one symmetric scale per output row (absmax-row); options qmax, w8a8, act_delta, "
    "delta (1 = SmoothQuant's arithmetic: q = round(W/Δ), activations x/Δ_t)",
    -1, 0, {"qmax", "w8a8", "act_delta", "delta"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeAbsmax("int8-row", w, rows, cols, params, true, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeAbsmax("int8-row", w, rows, cols, params, true, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadInt8("int8-row", Int8Dequant::kDivide, false, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 8.0; },
    "int8_bench"};

const FormatTraits kInt8RowAsymFormat = {
    "int8-row-asym",
    "int8, one scale and zero-point per output row (zeropoint-row); options levels, w8a8",
    -1, 0, {"levels", "w8a8"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeZeropoint("int8-row-asym", w, rows, cols, params, true, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeZeropoint("int8-row-asym", w, rows, cols, params, true, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadInt8("int8-row-asym", Int8Dequant::kDivide, false, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 8.0; },
    "int8_bench"};

}  // namespace gpt2q
