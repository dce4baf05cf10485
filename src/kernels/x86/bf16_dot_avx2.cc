// AVX2 build of the bf16 tile: vdpbf16ps emulated, two fused multiply-adds per lane and step.
#define GPT2Q_BF16_NATIVE 0
#include "kernels/x86/bf16_dot_impl.h"

namespace gpt2q::internal {

void Bf16TileAvx2(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
                  int64_t ldy) {
  Bf16TileImpl(w, cols, rows, xb, n, y, ldy);
}

}  // namespace gpt2q::internal
