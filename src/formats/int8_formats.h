// The integer formats' rows of the format table (see int8_matrix.h for the
// shared layout, each .cc for its formula).
#pragma once

#include "formats/format.h"

namespace gpt2q {

extern const FormatTraits kInt8TensorFormat;      // int8-tensor: absmax, one scale
extern const FormatTraits kInt8TensorAsymFormat;  // int8-tensor-asym: zeropoint
extern const FormatTraits kInt8RowFormat;         // int8-row: absmax per output row
extern const FormatTraits kInt8RowAsymFormat;     // int8-row-asym: zeropoint per row
extern const FormatTraits kInt8GroupFormat;       // int8-group: ZeroQuant groups, 8/4 bits
extern const FormatTraits kLlmInt8Format;         // llm-int8: bitsandbytes LLM.int8()

}  // namespace gpt2q
