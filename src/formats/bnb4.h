// Shared code of bitsandbytes' 4-bit formats (nf4, fp4): block absmax over the
// row-major flattened weight, optional double quantization of the absmax values
// with the 8-bit dynamic code, and Bnb4Matrix, the WeightMatrix both store in.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/format.h"
#include "formats/weight_matrix.h"

namespace gpt2q {

enum class Bnb4Kind { kNf4, kFp4 };

// Returns the 16 code values of the kind, indexed by code (bitsandbytes' quant_map).
const std::array<float, 16>& Bnb4Codebook(Bnb4Kind kind);

// Returns the code of x (already divided by the block absmax) as bitsandbytes'
// dQuantizeNF4 / dQuantizeFP4 decision trees pick it (ties go to the lower
// code; NaN, from an all-zero block, gives code 0).
uint8_t QuantizeNf4Value(float x);
uint8_t QuantizeFp4Value(float x);

// Returns bitsandbytes' create_dynamic_map(signed=True, max_exponent_bits=7,
// total_bits=8): 256 sorted values in [−1, 1], computed in fp32 as torch does.
const std::array<float, 256>& DynamicMap8();

// Returns the code of x in DynamicMap8() as bitsandbytes' dQuantize<0> picks it
// (binary search, then the nearer neighbour by midpoint).
uint8_t QuantizeDynamic8(float x);

struct Bnb4Options {
  int64_t block = 64;         // values per absmax block (power of two, 16..4096)
  bool double_quant = false;  // absmax stored as 8-bit dynamic codes, nested blocks of 256
};

// Parses {"block", "double"}; errors name the format, the key and the valid values.
Result<Bnb4Options> ParseBnb4Options(std::string_view format, const FormatParams& params);

// Values per nested block when the absmax values are double-quantized.
inline constexpr int64_t kBnb4NestedBlock = 256;

// A 4-bit bitsandbytes weight [rows, cols]: codes of the row-major flattened
// values, two per byte, first value in the high nibble; one absmax per `block`
// values (fp32, or double-quantized: absmax_b = code8[q_b]·nested[b/256] + offset).
class Bnb4Matrix : public WeightMatrix {
 public:
  struct Storage {
    AlignedBuffer codes;              // ceil(rows·cols/2) bytes
    std::vector<float> absmax;        // n_blocks values, empty when double_quant
    std::vector<uint8_t> qabsmax;     // n_blocks 8-bit codes when double_quant
    std::vector<float> nested_absmax; // ceil(n_blocks/256) values when double_quant
    float offset = 0.0f;              // mean of the absmax values when double_quant
    // The 256-entry code of qabsmax when it is not DynamicMap8() (a checkpoint
    // made with another torch's create_dynamic_map, whose linspace can differ
    // in the last bit); empty = DynamicMap8().
    std::vector<float> nested_map;
  };
  Bnb4Matrix(Bnb4Kind kind, int64_t rows, int64_t cols, Bnb4Options options, Storage storage);

  std::string format() const override;
  void Multiply(const float* x, int64_t n, float* y, ThreadPool& pool) const override;
  void DequantizeRow(int64_t row, float* out) const override;
  // Codes + absmax (fp32, or 8-bit codes + nested fp32 absmax + offset + the
  // 256-entry nested code map) + the 16-entry quant map, as bitsandbytes stores them.
  int64_t StoredBytes() const override;
  // Parts: "codes" U8 [ceil(rows·cols/2)]; then "absmax" F32 [n_blocks], or
  // with double quantization "qabsmax" U8 [n_blocks], "nested_absmax" F32
  // [ceil(n_blocks/256)] and "offset" F32 [1], and "nested_map" F32 [256]
  // only when the code is not DynamicMap8(). Params: block, double.
  StoredMatrix Store() const override;

  Bnb4Kind kind() const { return kind_; }
  const Bnb4Options& options() const { return options_; }
  const Storage& storage() const { return storage_; }
  int64_t n_blocks() const { return n_blocks_; }
  // Returns the absmax of block b, dequantized when double-quantized.
  float BlockAbsmax(int64_t b) const;
  // Writes the absmax of blocks [first, first + count) to out: with double
  // quantization, one lookup and multiply-add each, the table fetched once.
  // Decode calls it once per chunk of rows (a call per block held
  // nf4:double=1 decode at 173 tokens/s, against 217 without double quantization).
  void BlockAbsmaxes(int64_t first, int64_t count, float* out) const;

 private:
  bool RowsAligned() const { return cols() % options_.block == 0; }
  void DequantizeRows(int64_t r0, int64_t count, float* out) const;

  Bnb4Kind kind_;
  Bnb4Options options_;
  Storage storage_;
  int64_t n_blocks_;
};

// Quantizes w [rows, cols] into a Bnb4Matrix. With `pool` the AVX2 path runs over
// blocks in parallel; without it, the scalar decision trees. Both give identical
// codes. Rejects NaN/Inf, naming the flat index.
Result<std::unique_ptr<WeightMatrix>> QuantizeBnb4(Bnb4Kind kind, const float* w, int64_t rows,
                                                   int64_t cols, const FormatParams& params,
                                                   ThreadPool* pool);

// Rebuilds a Bnb4Matrix from the parts and params its Store() returned,
// validating every dtype, shape and size (errors name parts.where).
Result<std::unique_ptr<WeightMatrix>> LoadBnb4(Bnb4Kind kind, const StoredParts& parts, int64_t rows,
                                               int64_t cols, const FormatParams& params);

}  // namespace gpt2q
