// AVX512-BF16 build of the bf16 tile (_mm512_dpbf16_ps).
// GCC 12 flags its own AVX-512 intrinsics headers (__Y in _mm512_extractf32x8_ps).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#define GPT2Q_BF16_NATIVE 1
#include "kernels/x86/bf16_dot_impl.h"

namespace gpt2q::internal {

void Bf16TileAvx512(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
                    int64_t ldy) {
  Bf16TileImpl(w, cols, rows, xb, n, y, ldy);
}

}  // namespace gpt2q::internal
