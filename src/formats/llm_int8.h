// LlmInt8Matrix: bitsandbytes LLM.int8() — int8 rows with an fp32 outlier path.
#pragma once

#include "formats/int8_matrix.h"

namespace gpt2q {

class LlmInt8Matrix : public Int8Matrix {
 public:
  LlmInt8Matrix(const Int8Spec& spec, int64_t rows, int64_t cols, float threshold)
      : Int8Matrix(spec, rows, cols), threshold_(threshold) {}

  // Outlier columns O = {k : any |x[t][k]| ≥ threshold} (none if threshold
  // is 0) are zeroed before the int8 product and multiplied in fp32 against
  // the dequantized weight columns CB[:, k]·SCB/127, then added.
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;

  // Int8Matrix's parts (codes = CB, scales = SCB); params: threshold.
  StoredMatrix Store() const override;

  float threshold() const { return threshold_; }

 private:
  float threshold_;
};

}  // namespace gpt2q
