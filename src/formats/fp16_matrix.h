// Fp16Matrix: IEEE binary16 weights [rows = out, cols = in], row-major.
#pragma once

#include <memory>

#include "core/aligned_buffer.h"
#include "formats/format.h"
#include "formats/weight_matrix.h"

namespace gpt2q {

extern const FormatTraits kFp16Format;

class Fp16Matrix : public WeightMatrix {
 public:
  // Holds `halves` (rows · cols binary16 values, row-major [out, in]).
  Fp16Matrix(AlignedBuffer halves, int64_t rows, int64_t cols);
  // Views rows · cols halves at `halves` (not owned: `owner` keeps them
  // alive, e.g. a mapped GGUF file), used in place.
  Fp16Matrix(const uint16_t* halves, int64_t rows, int64_t cols, std::shared_ptr<const void> owner);

  std::string format() const override { return "fp16"; }
  // n ≤ kGemvTokens: each row's halves are streamed once and dotted with every
  // token (F16C). Larger n: rows are converted tile by tile and SGEMM'd.
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  int64_t StoredBytes() const override { return rows() * cols() * 2; }
  // One part "halves", F16 [rows, cols].
  StoredMatrix Store() const override;

  const uint16_t* data() const { return data_; }

  static constexpr int64_t kGemvTokens = 4;

 private:
  void DecodeRows(int64_t row0, int64_t count, float* out) const;
  AlignedBuffer halves_;
  const uint16_t* data_;               // halves_, or a view kept alive by owner_
  std::shared_ptr<const void> owner_;
};

}  // namespace gpt2q
