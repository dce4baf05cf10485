// fp4: bitsandbytes' 4-bit float.
//
// Formula: blocks and absmax as nf4 (nf4.cc). Code = sign bit (8 when w < 0) +
// the magnitude code picked by bitsandbytes' dQuantizeFP4 thresholds on
// |w|/absmax_b (0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667,
// 0.583333, 0.8333333; on a threshold, the lower magnitude). FP4 is e2m1 with
// bias 3, divided by 12: magnitudes by code 0..7 = 0, 0.0052083, 0.6666667, 1,
// 0.3333333, 0.5, 0.1666667, 0.25; codes 8..15 are their negatives.
// w' = fp4[code]·absmax_b. Layout: as nf4, first value in the high nibble.
#include "formats/fp4.h"

#include "formats/bnb4.h"

namespace gpt2q {

const FormatTraits kFp4Format = {
    "fp4",
    "bitsandbytes FP4: 4-bit e2m1 codes, fp32 absmax per block (block=64, double=0|1)",
    64,
    32 + 4,
    {"block", "double"},
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params, ThreadPool& pool) {
      return QuantizeBnb4(Bnb4Kind::kFp4, w, rows, cols, params, &pool);
    },
    [](const float* w, int64_t rows, int64_t cols, const FormatParams& params) {
      return QuantizeBnb4(Bnb4Kind::kFp4, w, rows, cols, params, nullptr);
    },
    [](const StoredParts& parts, int64_t rows, int64_t cols, const FormatParams& params) {
      return LoadBnb4(Bnb4Kind::kFp4, parts, rows, cols, params);
    },
    [](const WeightMatrix&) { return 4.0; },
    "q4_bench"};

}  // namespace gpt2q
