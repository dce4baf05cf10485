// Bf16Matrix: bfloat16 weights [rows = out, cols = in], row-major, multiplied
// with bf16 dot products (kernels/bf16_dot.h): activations rounded to bf16,
// fp32 accumulation in vdpbf16ps' lane order, the same bits on every CPU.
#pragma once

#include <memory>

#include "core/aligned_buffer.h"
#include "formats/format.h"
#include "formats/weight_matrix.h"

namespace gpt2q {

extern const FormatTraits kBf16Format;

class Bf16Matrix : public WeightMatrix {
 public:
  // Holds `values` (rows · cols bf16, row-major [out, in]).
  Bf16Matrix(AlignedBuffer values, int64_t rows, int64_t cols);
  // Views rows · cols bf16 at `values` (not owned: `owner` keeps them alive,
  // e.g. a mapped GGUF file), used in place.
  Bf16Matrix(const uint16_t* values, int64_t rows, int64_t cols, std::shared_ptr<const void> owner);

  std::string format() const override { return "bf16"; }
  // Rounds x to bf16 once, then bf16 dot products tiled over rows × tokens; a
  // token's result does not depend on n or the thread count.
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  int64_t StoredBytes() const override { return rows() * cols() * 2; }
  // One part "values", BF16 [rows, cols].
  StoredMatrix Store() const override;

  const uint16_t* data() const { return data_; }

 private:
  AlignedBuffer values_;
  const uint16_t* data_;               // values_, or a view kept alive by owner_
  std::shared_ptr<const void> owner_;
};

// Rounds w [rows, cols] to bf16 (nearest even). Rejects NaN, ±Inf and values
// that round to ±Inf, naming the element.
Result<std::unique_ptr<WeightMatrix>> QuantizeBf16(const float* w, int64_t rows, int64_t cols,
                                                   const FormatParams& params, ThreadPool* pool);

}  // namespace gpt2q
