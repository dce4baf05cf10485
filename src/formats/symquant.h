// int8-symquant: DeepSpeed's symmetric 8-bit quantizer as a format row.
#pragma once

#include "formats/format.h"

namespace gpt2q {

extern const FormatTraits kInt8SymquantFormat;

}  // namespace gpt2q
