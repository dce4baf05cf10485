// Fp32Matrix: an fp32 weight, used in place (from the mapped checkpoint or a
// buffer), in either GPT-2's Conv1D layout [in, out] or [out, in].
#pragma once

#include <memory>

#include "formats/weight_matrix.h"

namespace gpt2q {

enum class Fp32Layout {
  kInOut,  // Conv1D: element (out o, in i) at data[i * rows + o]
  kOutIn,  // nn.Linear / embedding: element (o, i) at data[o * cols + i]
};

class Fp32Matrix : public WeightMatrix {
 public:
  // Views `data` (not owned; `owner` keeps it alive, may be null).
  Fp32Matrix(const float* data, int64_t rows, int64_t cols, Fp32Layout layout,
             std::shared_ptr<const void> owner = nullptr);

  std::string format() const override { return "fp32"; }
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  int64_t StoredBytes() const override { return rows() * cols() * 4; }
  // One part "values", F32 in the matrix's own layout ([rows, cols] for
  // kOutIn, [cols, rows] for kInOut), and param in_out = 1 for kInOut.
  StoredMatrix Store() const override;

  const float* data() const { return data_; }
  Fp32Layout layout() const { return layout_; }

 private:
  // Multiply for n < 4 activation rows and the Conv1D layout (decode).
  void MultiplyConv1DFewRows(const float* x, int64_t n, float* y, ThreadPool& pool) const;

  const float* data_;
  Fp32Layout layout_;
  std::shared_ptr<const void> owner_;
};

}  // namespace gpt2q
