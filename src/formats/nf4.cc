// nf4: bitsandbytes' 4-bit NormalFloat.
//
// Formula: W flattened row-major, cut into blocks of `block` values (default 64;
// blocks may cross rows, as bitsandbytes'). absmax_b = max |w| over the block;
// code = the NF4 value nearest to w·(1/absmax_b), by bitsandbytes' dQuantizeNF4
// thresholds (midpoints; a value on a midpoint takes the lower code). NF4 values,
// code 0..15: −1, −0.6962, −0.5251, −0.3949, −0.2844, −0.1848, −0.0911, 0, 0.0796,
// 0.1609, 0.2461, 0.3379, 0.4407, 0.5626, 0.7230, 1. w' = nf4[code]·absmax_b.
// Layout: codes[k/2] holds value k in the high nibble when k is even, in the low
// nibble when odd; absmax fp32 per block (or, with double=1, an 8-bit dynamic
// code per block + fp32 absmax per 256 blocks + the fp32 mean; see bnb4.h).
#include "formats/nf4.h"

#include "formats/bnb4.h"

namespace gpt2q {

const FormatTraits kNf4Format = {
    "nf4",
    "bitsandbytes NF4: 4-bit NormalFloat codes, fp32 absmax per block (block=64, double=0|1)",
    64,
    32 + 4,
    {"block", "double"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeBnb4(Bnb4Kind::kNf4, w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeBnb4(Bnb4Kind::kNf4, w, rows, cols, params, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadBnb4(Bnb4Kind::kNf4, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 4.0; },
    "q4_bench"};

}  // namespace gpt2q
