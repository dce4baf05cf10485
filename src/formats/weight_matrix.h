// WeightMatrix: a linear layer's weight in some storage format, with the
// kernels that multiply activations by it. The model only sees this interface.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/thread_pool.h"

namespace gpt2q {

// One named array of a matrix's storage, as a quantized checkpoint holds it
// (the tensor "NAME.<suffix>"): codes, scales, zero-points, absmax, blocks...
struct StoredPart {
  std::string suffix;           // "codes", "scales", "blocks", ...
  std::string dtype;            // safetensors spelling: "U8", "I8", "F16", "F32"
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;   // numel · dtype size bytes, little-endian
};

// A matrix's whole storage: its parts plus the format options (FormatParams)
// that its format table row's `load` needs to rebuild it exactly.
struct StoredMatrix {
  std::map<std::string, double> params;
  std::vector<StoredPart> parts;
};

// A matrix W seen as [rows = out_features, cols = in_features] (bitsandbytes'
// and ggml's orientation), whatever layout the format stores it in.
class WeightMatrix {
 public:
  WeightMatrix(int64_t rows, int64_t cols) : rows_(rows), cols_(cols) {}
  virtual ~WeightMatrix() = default;

  int64_t rows() const { return rows_; }  // out_features
  int64_t cols() const { return cols_; }  // in_features

  // Returns the format's name as the format table spells it ("fp32", "nf4", ...).
  virtual std::string format() const = 0;

  // y[n, rows] = x[n, cols] · Wᵀ. Overwrites y; x and y are row-major and
  // must not alias. The result does not depend on pool.num_threads().
  virtual void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const = 0;

  // Writes row `row` of W (cols values), dequantized, into out.
  virtual void DequantizeRow(int64_t row, float* out) const = 0;

  // Returns the bytes this matrix holds in its format: codes, scales,
  // zero-points, outlier data, codebooks. Memory-mapped fp32 counts too.
  virtual int64_t StoredBytes() const = 0;

  // Returns the matrix's storage as named parts; the format's `load` rebuilds
  // from them a matrix whose Multiply and DequantizeRow give identical bits.
  virtual StoredMatrix Store() const = 0;

 private:
  int64_t rows_;
  int64_t cols_;
};

}  // namespace gpt2q
