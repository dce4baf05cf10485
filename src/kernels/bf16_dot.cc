// Scalar parts and run-time dispatch of the bf16 dot products.
#include "kernels/bf16_dot.h"

#include <cmath>

#include "core/half.h"

namespace gpt2q {

void Bf16PackActivations(const float* x, int64_t n, int64_t cols, uint16_t* xb) {
  const int64_t padded = Bf16PaddedCols(cols);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t c = 0; c < cols; ++c) xb[t * padded + c] = FloatToBf16(x[t * cols + c]);
    for (int64_t c = cols; c < padded; ++c) xb[t * padded + c] = 0;
  }
}

float Bf16DotRef(const uint16_t* w, int64_t cols, const uint16_t* xb) {
  float acc[16] = {};
  for (int64_t k = 0; k < cols; k += kBf16Step) {
    for (int l = 0; l < 16; ++l) {
      const int64_t even = k + 2 * l, odd = even + 1;
      // Past the row's end the weight is 0 (the activation padding is 0 too).
      const float w_odd = odd < cols ? Bf16ToFloat(w[odd]) : 0.0f;
      const float w_even = even < cols ? Bf16ToFloat(w[even]) : 0.0f;
      acc[l] = std::fma(w_odd, Bf16ToFloat(xb[odd]), acc[l]);
      acc[l] = std::fma(w_even, Bf16ToFloat(xb[even]), acc[l]);
    }
  }
  float s8[8], s4[4];
  for (int i = 0; i < 8; ++i) s8[i] = acc[i] + acc[i + 8];
  for (int i = 0; i < 4; ++i) s4[i] = s8[i] + s8[i + 4];
  return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

namespace internal {
bool HasAvx512Bf16() {
  // The file is compiled for the whole AVX-512 set the project uses (F, BW, VL, DQ, BF16).
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512bf16");
  return has;
}
}  // namespace internal

void Bf16Tile(const uint16_t* w, int64_t cols, int64_t rows, const uint16_t* xb, int64_t n, float* y,
              int64_t ldy) {
  if (internal::HasAvx512Bf16()) {
    internal::Bf16TileAvx512(w, cols, rows, xb, n, y, ldy);
  } else {
    internal::Bf16TileAvx2(w, cols, rows, xb, n, y, ldy);
  }
}

}  // namespace gpt2q
