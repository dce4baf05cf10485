// GPTQ for one linear layer (IST-DASLab gptq.py fasterquant): quantizes the
// columns of W [out, in] one at a time and spreads each column's rounding error
// over the columns not yet quantized, weighted by the inverse Hessian.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "formats/minmax_quantizer.h"

namespace gpt2q {

struct GptqOptions {
  int bits = 4;          // 2, 3, 4 or 8
  int64_t group = 128;   // columns per group along the input dimension; −1 = one group per row
  bool sym = false;      // symmetric quantizer (zero = (maxq+1)/2)
  bool act_order = false;  // columns in order of decreasing diag H, with static groups
  float damp = 0.01f;    // percdamp: damping = damp · mean(diag H)
  int64_t block = 128;   // columns per lazy batch update
};

// Returns an error naming the option when `options` is out of range.
Status ValidateGptqOptions(const GptqOptions& options);

struct GptqResult {
  int64_t rows = 0, cols = 0;
  int64_t group_size = 0;  // columns per group (cols when options.group = −1)
  int64_t n_groups = 0;    // ceil(cols / group_size); the last group may be shorter
  std::vector<GroupQuant> params;  // [rows, n_groups]: column c of row r uses params[r·n_groups + c/group_size]
  std::vector<uint8_t> codes;      // [rows, cols] in the original column order, each in [0, 2^bits − 1]
  std::vector<float> dequantized;  // [rows, cols]: DequantizeCode(codes, params)
  double layer_error = 0;          // gptq.py's printed error: Σ (w − q)² / Hinv_ii² / 2
  int64_t dead_columns = 0;        // columns with H_jj = 0 (zeroed before quantization)
};

// Quantizes w [rows, cols] (row-major, the linear's weight as [out, in]) given
// its Hessian h [cols, cols] (symmetric, row-major; taken by value and used as
// scratch). Follows gptq.py step by step:
//  - per-row quantizer parameters (group −1) come from the original w, before
//    dead columns are zeroed;
//  - dead columns (H_jj = 0) get H_jj = 1 and W[:, j] = 0;
//  - act_order: static groups — each original group's parameters are computed
//    from w (dead columns zeroed) before the columns are permuted in order of
//    decreasing diag H (a stable sort: ties keep the lower column first; torch's
//    argsort leaves ties unspecified);
//  - damping damp · mean(diag H) is added to the diagonal; Hinv = upper
//    Cholesky factor of H⁻¹ (LAPACK);
//  - columns in blocks of `block`; without act_order a group's parameters are
//    taken at its first column from the current W (the updates of earlier
//    blocks applied, those of the current block not); each column's error
//    (w − q)/Hinv_ii is propagated within the block, then
//    W[:, i2:] −= Err·Hinv[i1:i2, i2:].
// Rows are independent in this algorithm: they are processed in fixed chunks
// of rows, one chunk per task, so the result does not depend on the thread
// count (OpenBLAS must be single-threaded, see UseSingleThreadedBlas).
// `name` labels error messages (e.g. "h.3.mlp.c_fc"). Returns an error for bad
// options, mismatched sizes, a non-finite weight or Hessian entry, or a
// Hessian that is not positive definite after damping.
Result<GptqResult> GptqQuantize(std::string_view name, const float* w, int64_t rows, int64_t cols,
                                std::vector<float> h, const GptqOptions& options, ThreadPool& pool);

}  // namespace gpt2q
