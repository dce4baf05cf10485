// llama.cpp's block formats as gpt2q weights: GgmlMatrix (rows of ggml blocks,
// exactly as a GGUF tensor stores them) and the format-table rows.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/aligned_buffer.h"
#include "formats/format.h"
#include "formats/ggml_blocks.h"
#include "formats/weight_matrix.h"

namespace gpt2q {

extern const FormatTraits kQ8_0Format;  // q8_0: 32 values, fp16 d, int8 codes (34 bytes)
extern const FormatTraits kQ4_0Format;  // q4_0: 32 values, fp16 d, 4-bit codes (18 bytes)
extern const FormatTraits kQ4_1Format;  // q4_1: 32 values, fp16 d and m (20 bytes)
extern const FormatTraits kQ5_0Format;  // q5_0: 32 values, fp16 d, 5-bit codes (22 bytes)
extern const FormatTraits kQ5_1Format;  // q5_1: 32 values, fp16 d and m, 5-bit (24 bytes)
extern const FormatTraits kQ4_KFormat;  // q4_k: 256 values, 6-bit scales/mins (144 bytes)
extern const FormatTraits kQ6_KFormat;  // q6_k: 256 values, int8 scales, 6-bit (210 bytes)

// Facts about one ggml type: its name in the format table, block geometry and
// the reference row quantizer/dequantizer.
struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;
  int64_t block_values;
  int64_t block_bytes;
  void (*quantize_row)(const float* x, void* y, int64_t k);
  void (*dequantize_row)(const void* x, float* y, int64_t k);
};
const GgmlTypeInfo& GetGgmlTypeInfo(GgmlType type);

// A weight [rows, cols] stored as rows of ggml blocks (cols % block_values == 0).
class GgmlMatrix : public WeightMatrix {
 public:
  // `data` holds rows · (cols / block_values) blocks, row after row.
  GgmlMatrix(GgmlType type, int64_t rows, int64_t cols, AlignedBuffer data);
  // Views rows · (cols / block_values) blocks at `data` (not owned: `owner`
  // keeps them alive, e.g. a mapped GGUF file), used in place.
  GgmlMatrix(GgmlType type, int64_t rows, int64_t cols, const uint8_t* data,
             std::shared_ptr<const void> owner);

  std::string format() const override;
  // Quantizes each row of x to 8-bit blocks (ActQ8, or ActQ8K for the K-quants)
  // once, then integer block dot products tiled over tokens × rows.
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  int64_t StoredBytes() const override { return rows() * row_bytes_; }
  // One part "blocks", U8 [rows, row_bytes]: the ggml blocks as GGUF stores them.
  StoredMatrix Store() const override;

  // The same product with the scalar reference dot products (for tests).
  void MultiplyReference(const float* x, int64_t n, float* y) const;

  GgmlType type() const { return info_.type; }
  int64_t row_bytes() const { return row_bytes_; }
  const uint8_t* row_data(int64_t row) const { return data_ + row * row_bytes_; }

 private:
  // Quantizes the n rows of x into act (n · act_row_bytes()).
  void QuantizeActivations(const float* x, int64_t n, uint8_t* act, ThreadPool* pool) const;
  int64_t act_row_bytes() const;

  const GgmlTypeInfo& info_;
  int64_t row_bytes_;
  const uint8_t* data_;                // the blocks: owned_ or a view kept alive by owner_
  AlignedBuffer owned_;
  std::shared_ptr<const void> owner_;
};

// Quantizes w [rows, cols] with ggml's reference quantizer of `type`; the rows
// are spread over `pool` when given. Rejects options, NaN/Inf and rows that are
// not whole blocks, naming the format and the expected vs actual.
Result<std::unique_ptr<WeightMatrix>> QuantizeGgml(GgmlType type, const float* w, int64_t rows,
                                                   int64_t cols, const FormatParams& params,
                                                   ThreadPool* pool);

// Rebuilds a GgmlMatrix of `type` from the parts its Store() returned,
// validating the shape and size (errors name parts.where).
Result<std::unique_ptr<WeightMatrix>> LoadGgml(GgmlType type, const StoredParts& parts, int64_t rows,
                                               int64_t cols, const FormatParams& params);

}  // namespace gpt2q
