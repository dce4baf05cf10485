// fp4: bitsandbytes' 4-bit float (e2m1) weights (see fp4.cc for formula and layout).
#pragma once

#include "formats/format.h"

namespace gpt2q {

extern const FormatTraits kFp4Format;  // fp4[:block=64,double=0|1]

}  // namespace gpt2q
