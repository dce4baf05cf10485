// The format table: every storage format gpt2q has, one row each. The CLI,
// loader, tests, benchmarks and reports loop over this table.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/stored_parts.h"
#include "formats/weight_matrix.h"

namespace gpt2q {

// Options of a format, parsed from a spec string's key=value pairs
// (e.g. {"block": 64, "double": 1}). Keys a format does not know are an error.
using FormatParams = std::map<std::string, double>;

struct FormatTraits {
  std::string_view name;         // "fp32", "int8-row", "nf4", "q4_k", ...
  std::string_view description;  // one line for --help and reports
  int64_t block_size;            // values per block along a row; 0 = per tensor, cols = per row
  int64_t block_bytes;           // bytes per block (codes + scales), 0 where not block-structured
  std::vector<std::string_view> param_keys;  // keys FormatParams may hold

  // Quantizes W [rows, cols] (row-major fp32, rows = out_features) into this
  // format with the fast path. Rejects NaN/Inf with an error naming the index.
  Result<std::unique_ptr<WeightMatrix>> (*quantize)(const float* w, int64_t rows, int64_t cols,
                                                    const FormatParams& params, ThreadPool& pool);
  // The scalar reference of `quantize`: must produce identical codes.
  Result<std::unique_ptr<WeightMatrix>> (*quantize_ref)(const float* w, int64_t rows,
                                                        int64_t cols, const FormatParams& params);
  // Rebuilds a [rows, cols] matrix from the parts and params its Store()
  // returned (read back from a checkpoint), validating every dtype, shape and
  // size; errors name parts.where, the part and expected vs actual.
  Result<std::unique_ptr<WeightMatrix>> (*load)(const StoredParts& parts, int64_t rows,
                                                int64_t cols, const FormatParams& params);
  // Returns the bits per weight that transformers counts for a linear layer
  // stored like `m` (a matrix of this format): its code bits, scales not
  // counted (quant/memory.h's HfFootprintBytes).
  double (*hf_code_bits)(const WeightMatrix& m);
  // The benchmark program that times this format's kernels against fp32:
  // "q4_bench", "int8_bench", or "" (fp32 is every program's baseline).
  std::string_view bench;
};

// Returns every format, in a fixed order.
const std::vector<FormatTraits>& FormatTable();

// Returns the format called `name`, or an error listing the valid names.
Result<const FormatTraits*> FindFormat(std::string_view name);

}  // namespace gpt2q
