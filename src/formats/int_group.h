// int-group: GPTQ/AWQ-style weights — 2/3/4/8-bit unsigned codes, group-wise
// along the input dimension, one fp16 scale and one zero-point per (row, group).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "formats/format.h"
#include "formats/minmax_quantizer.h"
#include "formats/weight_matrix.h"
#include "kernels/int_group_gemv.h"

namespace gpt2q {

extern const FormatTraits kIntGroupFormat;  // int-group[:bits=4,group=128,sym=0]

struct IntGroupOptions {
  int bits = 4;         // 2, 3, 4 or 8
  int64_t group = 128;  // columns per group; −1 = one group per row
  bool sym = false;     // symmetric quantizer (zero-point fixed at 2^(bits−1))

  // Returns the columns per group for rows of `cols`: group, capped at cols.
  int64_t GroupFor(int64_t cols) const { return group < 0 || group > cols ? cols : group; }
};

// Parses {"bits", "group", "sym"} (missing keys keep their defaults); errors
// name `where`, the key, the valid values and the value given.
Result<IntGroupOptions> ParseIntGroupOptions(std::string_view where, const FormatParams& params);

// W [rows, cols] as int-group codes: W'[j][k] = fp32(scale[j][g]) · (q[j][k] − zero[j][g])
// for k in group g (see int_group.cc for the layout).
class IntGroupMatrix : public WeightMatrix {
 public:
  // Takes a packed matrix whose codes, scales and zero-points are filled.
  IntGroupMatrix(IntGroupOptions options, IntGroupPacked packed);

  // Builds the matrix from decisions made elsewhere (GPTQ, AWQ): params
  // [rows][n_groups] (n_groups = ceil(cols / group)) and codes [rows][cols],
  // row-major. Scales are stored as fp16 (round to nearest even); the codes
  // are kept as given, so a caller that chose them with the fp32 scale (as
  // GPTQ's reference does) gets fp16(scale)·(q − zero) back. Errors: codes
  // outside [0, 2^bits − 1], zero-points outside it (or ≠ 2^(bits−1) when
  // sym), scales that are not finite or beyond fp16's range (|s| > 65504).
  static Result<std::unique_ptr<IntGroupMatrix>> FromGroupQuant(int64_t rows, int64_t cols,
                                                                const IntGroupOptions& options,
                                                                const GroupQuant* params,
                                                                const int32_t* codes);

  std::string format() const override { return "int-group"; }
  // n ≤ kIntGroupGemvMaxTokens: the fused streaming kernel; more: dequantized
  // tiles and SGEMM (kernels/int_group_gemv.h).
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  // Packed codes (padding included) + 2 bytes of fp16 scale + 1 byte of
  // zero-point per (row, group), padding rows to a multiple of 16 included.
  int64_t StoredBytes() const override { return packed_.Bytes(); }
  // Parts: "codes" U32 [rows_pad/16, words, 16] (the packed layout as is),
  // "scales" F16 [rows, n_groups], "zeros" U8 [rows, n_groups].
  // Params: bits, group (as given, −1 for per row), sym.
  StoredMatrix Store() const override;

  const IntGroupOptions& options() const { return options_; }
  const IntGroupPacked& packed() const { return packed_; }
  int64_t group() const { return packed_.group; }
  int64_t n_groups() const { return packed_.n_groups; }
  // Returns the code of (row, col) and the parameters of (row, group).
  int32_t Code(int64_t row, int64_t col) const;
  GroupQuant Params(int64_t row, int64_t g) const;
  // Selects the fused kernel (tests compare them); default BestIntGroupIsa().
  void set_isa(IntGroupIsa isa) { isa_ = isa; }

 private:
  IntGroupOptions options_;
  IntGroupPacked packed_;
  IntGroupIsa isa_;
};

// Round-to-nearest with GPTQ's min-max quantizer (GptqGroupQuant) into
// int-group: the `rtn` method. Codes are chosen with the fp32 scale, as the
// reference does, and the scale is then stored as fp16. With `pool` the rows
// are spread over its threads; without it they run in order. Same codes.
Result<std::unique_ptr<WeightMatrix>> QuantizeIntGroup(const float* w, int64_t rows, int64_t cols,
                                                       const FormatParams& params, ThreadPool* pool);

// Rebuilds an IntGroupMatrix from the parts and params its Store() returned,
// validating every dtype, shape, size, scale and zero-point (errors name parts.where).
Result<std::unique_ptr<WeightMatrix>> LoadIntGroup(const StoredParts& parts, int64_t rows, int64_t cols,
                                                   const FormatParams& params);

}  // namespace gpt2q
