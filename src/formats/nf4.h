// nf4: bitsandbytes' 4-bit NormalFloat weights (see nf4.cc for formula and layout).
#pragma once

#include "formats/format.h"

namespace gpt2q {

extern const FormatTraits kNf4Format;  // nf4[:block=64,double=0|1]

}  // namespace gpt2q
